"""Who may do what: the admin password, the staff PIN and the two roles of the kiosk.

There is one admin password and one staff PIN (or password) per gallery, set by the operator
on the command line (``admin set-password``, ``staff set-pin``) before the kiosk faces the
public. Each is stored in the gallery's ``settings_store`` table (keys ``admin_password`` and
``staff_pin``) as a salted scrypt hash, never in clear:
``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``. The staff screens (attendance, manual
check-in, undo, export) need the staff PIN or the admin password: the admin may do everything
staff may. Admin-only actions (enrol, edit and delete people, settings, events, roster import)
are gated with :func:`require_role`. :class:`AttemptThrottle` makes every wrong attempt wait
longer before the next one.

The password guards the GUI only: anyone who can read the database file can read everything
in it (see docs/SECURITY.md), so the file itself must be protected by the operating system.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from kiosk.gallery import Gallery

SETTINGS_KEY = "admin_password"
STAFF_SETTINGS_KEY = "staff_pin"
MIN_PIN_CHARS = 4
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32
MIN_PASSWORD_CHARS = 6
MAX_PASSWORD_CHARS = 1024
SCHEME = "scrypt"
MAX_SCRYPT_MEMORY_BYTES = 64 * 1024 * 1024


class Role(enum.Enum):
    """What the person at the kiosk may do. ADMIN may do everything STAFF may."""

    STAFF = "staff"
    ADMIN = "admin"


_RANK = {Role.STAFF: 1, Role.ADMIN: 2}


def require_role(role: Role, needed: Role) -> None:
    """Check that ``role`` may do what needs ``needed``.

    Raises:
        PermissionError: naming the role needed.
    """
    if _RANK[role] < _RANK[needed]:
        raise PermissionError(f"this needs the {needed.value} role (signed in as {role.value})")


def hash_password(password: str, salt: bytes | None = None) -> str:
    """The stored form of a password: a scrypt hash with a fresh random salt.

    Args:
        password: the password.
        salt: for tests only; a new random salt by default.
    """
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return "$".join(
        [SCHEME, str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)]
    )


def check_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a value of :func:`hash_password` (constant-time compare).

    A malformed stored value never matches.
    """
    try:
        scheme, n_text, r_text, p_text, salt_text, digest_text = stored.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt = base64.b64decode(salt_text, validate=True)
        expected = base64.b64decode(digest_text, validate=True)
    except (ValueError, TypeError):
        return False
    # Refuse parameters that would make one check take seconds or gigabytes (a tampered row).
    if scheme != SCHEME or not (2 <= n <= 2**20 and 1 <= r <= 32 and 1 <= p <= 16):
        return False
    if 128 * n * r > MAX_SCRYPT_MEMORY_BYTES:
        return False
    if not expected or len(expected) > 256:
        return False
    try:
        actual = _scrypt(password, salt, n, r, p, len(expected))
    except (ValueError, MemoryError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=length,
        maxmem=256 * r * n + 1024 * 1024,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _stored_hash(gallery: Gallery, key: str = SETTINGS_KEY) -> str | None:
    return gallery.values.get(key)


def _set_secret(
    gallery: Gallery, key: str, secret: str, min_chars: int, noun: str, actor: str, what: str,
) -> None:
    """Check ``secret`` (``min_chars`` to 1024 characters, not only spaces), hash it and store
    it under ``key`` in one transaction with an audit row (without the secret or its hash).

    Raises:
        ValueError: naming ``noun`` ("the password", "the staff PIN").
    """
    if not isinstance(secret, str) or len(secret) < min_chars:
        raise ValueError(f"{noun} must have at least {min_chars} characters")
    if len(secret) > MAX_PASSWORD_CHARS:
        raise ValueError(f"{noun} must have at most {MAX_PASSWORD_CHARS} characters")
    if not secret.strip():
        raise ValueError(f"{noun} must not be only spaces")
    stored = hash_password(secret)
    existed = gallery.values.get(key) is not None
    gallery.values.put(key, stored, actor, f"change {what}" if existed else f"set {what}")


def _verify_secret(gallery: Gallery, key: str, secret: str) -> bool:
    """Whether ``secret`` matches the hash stored under ``key``; False when none is set.

    Each check costs one scrypt (~50 ms), which also slows down guessing.
    """
    stored = _stored_hash(gallery, key)
    if stored is None or not isinstance(secret, str) or len(secret) > MAX_PASSWORD_CHARS:
        return False
    return check_password(secret, stored)


def has_admin_password(gallery: Gallery) -> bool:
    """Whether an admin password has been set (if not, the GUI asks for one first)."""
    return _stored_hash(gallery) is not None


def set_admin_password(gallery: Gallery, password: str, actor: str = "admin") -> None:
    """Set or change the admin password (audit-logged, without the password or its hash).

    Changing an existing password is the caller's decision: verify the old one first with
    :func:`verify_admin_password`.

    Args:
        gallery: the gallery whose ``settings_store`` holds the hash.
        password: the new password, 6 to 1024 characters, not only spaces.
        actor: who sets it, for the audit log.

    Raises:
        ValueError: the password is too short, too long or blank.
        kiosk.gallery.GalleryError: the database cannot be written.
    """
    _set_secret(gallery, SETTINGS_KEY, password, MIN_PASSWORD_CHARS, "the password", actor,
                "admin password")


def verify_admin_password(gallery: Gallery, password: str) -> bool:
    """Whether ``password`` is the admin password; False when none is set.

    Each check costs one scrypt (~50 ms), which also slows down guessing.
    """
    return _verify_secret(gallery, SETTINGS_KEY, password)


def has_staff_pin(gallery: Gallery) -> bool:
    """Whether a staff PIN (or password) has been set."""
    return _stored_hash(gallery, STAFF_SETTINGS_KEY) is not None


def set_staff_pin(gallery: Gallery, pin: str, actor: str = "admin") -> None:
    """Set or change the staff PIN or password (audit-logged, without the PIN or its hash).

    Args:
        gallery: the gallery whose ``settings_store`` holds the hash.
        pin: 4 to 1024 characters (digits or any text), not only spaces.
        actor: who sets it, for the audit log.

    Raises:
        ValueError: the PIN is too short, too long or blank.
        kiosk.gallery.GalleryError: the database cannot be written.
    """
    _set_secret(gallery, STAFF_SETTINGS_KEY, pin, MIN_PIN_CHARS, "the staff PIN", actor,
                "staff pin")


def verify_staff_pin(gallery: Gallery, pin: str) -> bool:
    """Whether ``pin`` is the staff PIN; False when none is set."""
    return _verify_secret(gallery, STAFF_SETTINGS_KEY, pin)


def authenticate(gallery: Gallery, secret: str, needed: Role) -> Role | None:
    """The role ``secret`` grants if it is enough for ``needed``, else None.

    The admin password grants ADMIN (enough for everything); the staff PIN grants STAFF.
    """
    if verify_admin_password(gallery, secret):
        return Role.ADMIN
    if needed is Role.STAFF and verify_staff_pin(gallery, secret):
        return Role.STAFF
    return None


FREE_ATTEMPTS = 3  # wrong attempts allowed without a wait
MAX_WAIT_S = 60.0  # the longest wait after wrong attempts


def wait_s_after(failures: int, free_attempts: int = FREE_ATTEMPTS,
                 max_wait_s: float = MAX_WAIT_S) -> float:
    """The wait before the next attempt after ``failures`` wrong ones in a row: none for the
    first ``free_attempts``, then 1 s, 2 s, 4 s ... up to ``max_wait_s`` (the kiosk's rule,
    also the web console's)."""
    extra = failures - free_attempts
    return min(max_wait_s, 2.0 ** (extra - 1)) if extra > 0 else 0.0


class AttemptThrottle:
    """A growing wait after wrong attempts (:func:`wait_s_after`); a right attempt resets it.

    Args:
        free_attempts: wrong attempts allowed without a wait.
        max_wait_s: the longest wait.
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(self, free_attempts: int = FREE_ATTEMPTS, max_wait_s: float = MAX_WAIT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if free_attempts < 0:
            raise ValueError(f"free_attempts must be >= 0, got {free_attempts}")
        if max_wait_s <= 0:
            raise ValueError(f"max_wait_s must be > 0, got {max_wait_s}")
        self.free_attempts = free_attempts
        self.max_wait_s = max_wait_s
        self.clock = clock
        self.failures = 0
        self._next_allowed_t = 0.0

    def wait_s(self) -> float:
        """Seconds to wait before the next attempt is accepted (0 when it may go ahead)."""
        return max(0.0, self._next_allowed_t - self.clock())

    def failed(self) -> float:
        """Record a wrong attempt; returns the wait before the next one."""
        self.failures += 1
        wait_s = wait_s_after(self.failures, self.free_attempts, self.max_wait_s)
        if wait_s > 0:
            self._next_allowed_t = self.clock() + wait_s
        return self.wait_s()

    def succeeded(self) -> None:
        """A right attempt: no wait any more."""
        self.failures = 0
        self._next_allowed_t = 0.0
