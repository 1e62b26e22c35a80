"""Console accounts (admin or staff), their sign-in sessions and the sign-in back-off: the
rules (names, roles, passwords, session lifetime, waits); the rows are kept by
:mod:`service.store.console` (through :mod:`service.console.backend`), which also creates the
console's tables and its check-in trigger (:func:`ensure_schema`).

The password is stored as the kiosk stores its own (a salted scrypt hash,
:func:`kiosk.auth.hash_password`); a session is the SHA-256 of a random token, renewed while
it is used; the back-off state of failed sign-ins is kept in the database, so it holds across
several service instances.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from kiosk.auth import check_password, hash_password, wait_s_after
from kiosk.store.base import Store
from service.console.backend import (
    account_rows, disable_account_row, end_session, ensure_console_schema,
    insert_account, record_refused_sign_in, renew_session, session_row, sign_in_row,
    start_session,
)

ROLES = ("admin", "staff")
SESSION_IDLE_S = 3 * 24 * 3600.0  # a session unused this long ends
SESSION_RENEW_S = 3600.0  # a used session's expiry is moved on at most this often
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_NAME_CHARS = 100


@dataclass(frozen=True, slots=True)
class Account:
    """A console account (never its password)."""

    id: int
    name: str
    role: str
    created_at: str
    disabled_at: str | None


@dataclass(frozen=True, slots=True)
class Session:
    """A signed-in browser: its account and the CSRF token its forms must carry."""

    account: Account
    csrf_token: str
    token_hash: str


class SignInRefused(Exception):
    """A sign-in that must wait (``wait_s`` seconds) before the next attempt."""

    def __init__(self, wait_s: float) -> None:
        super().__init__(f"too many failed sign-ins; try again in {wait_s:.0f} s")
        self.wait_s = wait_s


def ensure_schema(store: Store) -> None:
    """Create the console's tables and the check-in trigger when they are missing (one
    transaction; several instances starting together create them once)."""
    ensure_console_schema(store)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _check_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValueError("the account name must not be empty")
    if len(name) > MAX_NAME_CHARS:
        raise ValueError(f"the account name is longer than {MAX_NAME_CHARS} characters")
    return name


def check_new_password(password: str) -> None:
    """Raises ValueError naming what is wrong with a new password."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"the password is longer than {MAX_PASSWORD_CHARS} characters")


def create_account(store: Store, name: str, role: str, password: str, actor: str = "cli") -> int:
    """A new account; returns its id.

    Raises:
        ValueError: empty or taken name, unknown role, too short a password.
    """
    name = _check_name(name)
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    check_new_password(password)
    account_id = insert_account(store, name, role, hash_password(password), actor)
    if account_id is None:
        raise ValueError(f"an account named {name!r} exists already")
    return account_id


def _account(row: Any) -> Account:
    return Account(int(row[0]), str(row[1]), str(row[2]), str(row[3]), row[4])


def list_accounts(store: Store) -> list[Account]:
    """Every account, oldest first."""
    return [_account(r) for r in account_rows(store)]


def disable_account(store: Store, name: str, actor: str = "cli") -> bool:
    """Disable an account and end its sessions at once; False when there is no such enabled
    account."""
    return disable_account_row(store, _check_name(name), actor, audit_name=name) is not None


# A hash to check wrong user names against, so that they take as long as wrong passwords.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def sign_in(store: Store, name: str, password: str, address: str = "",
            now_s: float | None = None) -> tuple[str, Session] | None:
    """Check a name and password; returns (the new session's token, the session), or None
    for a wrong name or password (each wrong password of an account makes its next attempt
    wait longer, as at the kiosk).

    Raises:
        SignInRefused: the account must wait before the next attempt.
    """
    now_s = time.time() if now_s is None else now_s
    name = " ".join((name or "").split())[:MAX_NAME_CHARS]
    password = (password or "")[:MAX_PASSWORD_CHARS]
    row = sign_in_row(store, name)
    if row is None:
        check_password(password, _DUMMY_HASH)
        return None
    account = _account(row)
    if float(row[6]) > now_s:
        raise SignInRefused(float(row[6]) - now_s)
    if not check_password(password, str(row[5])):
        record_refused_sign_in(store, account.id, f"console:{account.name}", address, now_s,
                               wait_s_after)
        return None
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    start_session(store, account.id, token_hash(token), csrf, now_s, now_s + SESSION_IDLE_S,
                  f"console:{account.name}", address)
    return token, Session(account, csrf, token_hash(token))


def session_of(store: Store, token: str, now_s: float | None = None) -> Session | None:
    """The live session of a cookie's token (its account enabled), renewed while used."""
    if not token or len(token) > 200:
        return None
    now_s = time.time() if now_s is None else now_s
    hashed = token_hash(token)
    row = session_row(store, hashed)
    if row is None or float(row[6]) < now_s:
        return None
    if float(row[6]) - now_s < SESSION_IDLE_S - SESSION_RENEW_S:
        renew_session(store, hashed, now_s + SESSION_IDLE_S)
    return Session(_account(row), str(row[5]), hashed)


def sign_out(store: Store, session: Session) -> None:
    end_session(store, session.token_hash, f"console:{session.account.name}")


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison of a form's CSRF token."""
    return bool(given) and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))
