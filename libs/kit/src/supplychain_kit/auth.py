"""Callers authenticate with a bearer key: as a department (which acts only for itself) or
as an administrator (who changes reference data and nothing else).

Keys are configured hashed (sha256): DEPARTMENT_API_KEYS
``[{"key_id": "assembly-1", "department": "ASSEMBLY", "sha256": "<hex>"}, ...]`` and
ADMIN_API_KEYS ``[{"key_id": "ops-admin", "sha256": "<hex>"}, ...]``.
Unset (only allowed in local and test), every department, including one added at run time,
has two well-known development keys ``dev-<code>-1`` and ``dev-<code>-2`` (lower case), and
the administrator has ``dev-admin-1``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter

from supplychain_kit.problems import Problem

ADMIN = "admin"
# dev-<department code in lower case>-<1|2>: any department, also one added at run time.
_DEVELOPMENT_KEY = re.compile(r"^dev-([a-z][a-z0-9_]{1,31})-([12])$")
DEVELOPMENT_ADMIN_KEY = "dev-admin-1"


class ApiKey(BaseModel):
    key_id: str
    department: str
    sha256: str


class AdminKey(BaseModel):
    key_id: str
    sha256: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, through which key: a department, or an administrator."""

    department: str
    key_id: str
    role: Literal["department", "admin"] = "department"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def development_principal(key: str) -> Principal | None:
    """The principal of a development key (local and test only), None for any other key."""
    if key == DEVELOPMENT_ADMIN_KEY:
        return Principal(department=ADMIN, key_id="admin-1", role="admin")
    match = _DEVELOPMENT_KEY.match(key)
    if match is None or match.group(1) == ADMIN:
        return None
    code, number = match.groups()
    return Principal(department=code.upper(), key_id=f"{code}-{number}")


@cache
def _keys(departments: str | None, admins: str | None) -> dict[str, Principal]:
    """sha256 → principal of every configured key."""
    known: dict[str, Principal] = {}
    for key in TypeAdapter(list[ApiKey]).validate_python(json.loads(departments or "[]")):
        known[key.sha256.lower()] = Principal(department=key.department, key_id=key.key_id)
    for admin in TypeAdapter(list[AdminKey]).validate_python(json.loads(admins or "[]")):
        known[admin.sha256.lower()] = Principal(department=ADMIN, key_id=admin.key_id, role="admin")
    return known


def identify(
    key: str, *, departments: str | None, admins: str | None, development: bool
) -> Principal | None:
    """Who holds `key`. Development keys work where they are allowed, for a role whose keys
    are not configured (configured keys replace them)."""
    digest = key_digest(key)
    for known, configured in _keys(departments, admins).items():
        if hmac.compare_digest(known, digest):
            return configured
    principal = development_principal(key) if development else None
    if principal is None or (admins if principal.role == "admin" else departments):
        return None
    return principal


_bearer = HTTPBearer(auto_error=False, description="the calling department's API key")


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Problem(
            401,
            "authenticate: Authorization: Bearer <department key> (or an admin key)",
            title="Unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    settings = request.app.state.runtime.settings
    principal = identify(
        credentials.credentials,
        departments=settings.department_api_keys,
        admins=settings.admin_api_keys,
        development=settings.development_keys_allowed,
    )
    if principal is None:
        raise Problem(
            401, "unknown API key", title="Unauthorized", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """A department's key; an admin key acts for no department."""
    principal = _principal(request, credentials)
    if principal.role != "department":
        raise Problem(
            403,
            "an admin key changes reference data only: act for a department with its key",
            title="Forbidden",
        )
    return principal


async def authenticate_admin(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """An admin key; a department key is refused (403) on every admin route."""
    principal = _principal(request, credentials)
    if principal.role != "admin":
        raise Problem(403, "admin routes need an admin key", title="Forbidden")
    return principal


Caller = Annotated[Principal, Depends(authenticate)]
Admin = Annotated[Principal, Depends(authenticate_admin)]


def require_department(caller: Principal, department: str, *, action: str) -> None:
    """A department acts only for itself."""
    if caller.department != department:
        raise Problem(
            403, f"{caller.department} cannot {action} for {department}", title="Forbidden"
        )
