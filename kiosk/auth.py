"""Who may do what: the admin password and the two roles of the kiosk's staff screens.

There is one admin password per gallery, set on first use. It is stored in the gallery's
``settings_store`` table (key ``admin_password``) as a salted scrypt hash, never in clear:
``scrypt$<n>$<r>$<p>$<salt, base64>$<hash, base64>``. Staff (check-in desk) need no password;
admin-only actions (enrol, edit and delete people, settings, roster import) are gated with
:func:`require_role`.

The password guards the GUI only: anyone who can read the database file can read everything
in it (see docs/SECURITY.md), so the file itself must be protected by the operating system.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import secrets

from kiosk.gallery import Gallery

SETTINGS_KEY = "admin_password"
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


def _stored_hash(gallery: Gallery) -> str | None:
    return gallery.values.get(SETTINGS_KEY)


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
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_CHARS:
        raise ValueError(f"the password must have at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise ValueError(f"the password must have at most {MAX_PASSWORD_CHARS} characters")
    if not password.strip():
        raise ValueError("the password must not be only spaces")
    stored = hash_password(password)
    existed = gallery.values.get(SETTINGS_KEY) is not None
    gallery.values.put(SETTINGS_KEY, stored, actor,
                       "change admin password" if existed else "set admin password")


def verify_admin_password(gallery: Gallery, password: str) -> bool:
    """Whether ``password`` is the admin password; False when none is set.

    Each check costs one scrypt (~50 ms), which also slows down guessing.
    """
    stored = _stored_hash(gallery)
    if stored is None or not isinstance(password, str) or len(password) > MAX_PASSWORD_CHARS:
        return False
    return check_password(password, stored)
