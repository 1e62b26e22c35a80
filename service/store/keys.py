"""The service's API keys (``api_keys``): created once (only a hash is stored), checked on every
request, revoked at once. A key has a role: ``kiosk`` (a door) or ``admin``."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from kiosk.store.base import Store, now_iso

ROLES = ("kiosk", "admin")
KEY_PREFIX = "kk_"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key (never the key itself)."""

    id: int
    name: str
    role: str
    created_at: str
    revoked_at: str | None


def hash_key(key: str) -> str:
    """SHA-256 of a key (keys are 32 random bytes: a slow hash would add nothing)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: Store, name: str, role: str, actor: str = "cli") -> tuple[int, str]:
    """A new key; returns (its id, the key), the key being shown this once only.

    Raises:
        ValueError: empty name or unknown role.
    """
    name = (name or "").strip()
    if not name:
        raise ValueError("name must not be empty")
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    with store.transaction() as tx:
        key_id = tx.insert("api_keys", {"name": name, "role": role, "key_hash": hash_key(key),
                                        "created_at": now_iso()})
        tx.audit(actor, "create api key", key_id=key_id, name=name, role=role)
    return key_id, key


def list_keys(store: Store) -> list[ApiKey]:
    """Every key, oldest first."""
    rows = store.query("SELECT id, name, role, created_at, revoked_at FROM api_keys ORDER BY id")
    return [ApiKey(int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in rows]


def revoke_key(store: Store, key_id: int, actor: str = "cli") -> bool:
    """Revoke a key; False when there is no such key or it was already revoked."""
    with store.transaction() as tx:
        changed = tx.execute(
            "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (now_iso(), key_id),
        ).rowcount
        if changed:
            tx.audit(actor, "revoke api key", key_id=key_id)
    return bool(changed)


def authenticate(store: Store, key: str) -> ApiKey | None:
    """The live (not revoked) key matching ``key``, or None."""
    row = store.query_one(
        "SELECT id, name, role, created_at, revoked_at FROM api_keys "
        "WHERE key_hash = ? AND revoked_at IS NULL",
        (hash_key(key),),
    )
    return None if row is None else ApiKey(int(row[0]), str(row[1]), str(row[2]), str(row[3]), None)
