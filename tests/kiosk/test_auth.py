from __future__ import annotations

import pytest

from kiosk import auth
from kiosk.auth import Role
from kiosk.gallery import Gallery


@pytest.fixture
def gallery(tmp_path):
    g = Gallery(tmp_path / "faces.sqlite", "test-model")
    yield g
    g.close()


def stored(g: Gallery) -> str:
    return g.store._conn.execute("SELECT value FROM settings_store WHERE key = 'admin_password'").fetchone()[0]


def test_first_use_then_verify(gallery):
    assert not auth.has_admin_password(gallery)
    assert not auth.verify_admin_password(gallery, "anything")  # nothing set: nothing passes
    auth.set_admin_password(gallery, "s3cret!", actor="setup")
    assert auth.has_admin_password(gallery)
    assert auth.verify_admin_password(gallery, "s3cret!")
    for wrong in ["s3cret", "s3cret!!", "S3CRET!", "", " s3cret!"]:
        assert not auth.verify_admin_password(gallery, wrong)


def test_hash_is_salted_scrypt_and_never_the_password(gallery):
    auth.set_admin_password(gallery, "password1")
    first = stored(gallery)
    auth.set_admin_password(gallery, "password1")
    second = stored(gallery)
    assert first != second  # a fresh salt each time
    for value in (first, second):
        scheme, n, r, p, salt, digest = value.split("$")
        assert (scheme, n, r, p) == ("scrypt", str(2**14), "8", "1")
        assert "password1" not in value
    assert auth.verify_admin_password(gallery, "password1")
    assert auth.hash_password("same", salt=b"0" * 16) == auth.hash_password("same", salt=b"0" * 16)


def test_password_survives_reopening(tmp_path, gallery):
    auth.set_admin_password(gallery, "密码密码密码")
    reopened = Gallery(tmp_path / "faces.sqlite", "test-model")
    assert auth.verify_admin_password(reopened, "密码密码密码")
    reopened.close()


@pytest.mark.parametrize("password", ["", "12345", "      ", "x" * 1025])
def test_bad_passwords_are_refused_and_nothing_stored(gallery, password):
    with pytest.raises(ValueError, match="password"):
        auth.set_admin_password(gallery, password)
    assert not auth.has_admin_password(gallery)


def test_set_and_change_are_audit_logged_without_secrets(gallery):
    auth.set_admin_password(gallery, "first-pass", actor="installer")
    assert auth.verify_admin_password(gallery, "first-pass")
    auth.set_admin_password(gallery, "second-pass", actor="admin")
    assert not auth.verify_admin_password(gallery, "first-pass")
    assert auth.verify_admin_password(gallery, "second-pass")
    entries = gallery.audit_log()
    assert [(e["actor"], e["action"]) for e in entries[:2]] == [
        ("admin", "change admin password"), ("installer", "set admin password")]
    text = repr(entries)
    assert "pass" not in text.replace("password", "") and "scrypt" not in text


@pytest.mark.parametrize("value", [
    "", "plain-text-password", "scrypt$16384$8$1$!!!$AAAA", "md5$1$1$1$AAAA$AAAA",
    "scrypt$1048576$32$16$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",  # parameters too costly: refused
    "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$",
])
def test_tampered_stored_value_never_matches(gallery, value):
    gallery.values.put("admin_password", value, "test", "tamper")
    assert not auth.verify_admin_password(gallery, "plain-text-password")
    assert not auth.verify_admin_password(gallery, "")


@pytest.mark.parametrize(("role", "needed", "allowed"), [
    (Role.ADMIN, Role.ADMIN, True),
    (Role.ADMIN, Role.STAFF, True),
    (Role.STAFF, Role.STAFF, True),
    (Role.STAFF, Role.ADMIN, False),
])
def test_require_role(role, needed, allowed):
    if allowed:
        auth.require_role(role, needed)
    else:
        with pytest.raises(PermissionError, match="admin role"):
            auth.require_role(role, needed)
