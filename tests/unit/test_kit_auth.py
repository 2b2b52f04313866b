"""Department and admin keys (pure: the key lookup, without HTTP)."""

from __future__ import annotations

import json

from supplychain_kit.http.auth import identify, key_digest

CONFIGURED = json.dumps(
    [{"key_id": "frames-ci", "department": "FRAMES", "sha256": key_digest("s3cret")}]
)
ADMINS = json.dumps([{"key_id": "ops", "sha256": key_digest("admin-s3cret")}])


def test_development_keys_exist_for_any_department_also_one_added_at_run_time() -> None:
    for key, department in [("dev-assembly-1", "ASSEMBLY"), ("dev-cafe_north-2", "CAFE_NORTH")]:
        principal = identify(key, departments=None, admins=None, development=True)
        assert principal is not None
        assert (principal.department, principal.role) == (department, "department")
    assert identify("dev-assembly-3", departments=None, admins=None, development=True) is None


def test_the_development_admin_key_is_an_admin_and_no_department() -> None:
    admin = identify("dev-admin-1", departments=None, admins=None, development=True)
    assert admin is not None and admin.role == "admin"
    assert identify("dev-admin-2", departments=None, admins=None, development=True) is None


def test_development_keys_are_refused_where_not_allowed_or_replaced_by_configured_keys() -> None:
    assert identify("dev-assembly-1", departments=None, admins=None, development=False) is None
    assert identify("dev-admin-1", departments=None, admins=None, development=False) is None
    assert identify("dev-assembly-1", departments=CONFIGURED, admins=None, development=True) is None
    assert identify("dev-admin-1", departments=None, admins=ADMINS, development=True) is None


def test_configured_keys_are_matched_by_their_hash() -> None:
    frames = identify("s3cret", departments=CONFIGURED, admins=ADMINS, development=False)
    assert frames is not None and (frames.department, frames.key_id) == ("FRAMES", "frames-ci")
    admin = identify("admin-s3cret", departments=CONFIGURED, admins=ADMINS, development=False)
    assert admin is not None and (admin.role, admin.key_id) == ("admin", "ops")
    assert identify("guess", departments=CONFIGURED, admins=ADMINS, development=False) is None
