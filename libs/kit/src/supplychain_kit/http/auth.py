"""Callers authenticate with a bearer key that has a role.

| role | may |
|---|---|
| department | act for its own department; read only what it is party to |
| finance | ledger, statements and invoices of all; accounting periods; escalated disputes |
| analyst | company-wide process data |
| operator | dead letters, redrive, parked outbox rows, replay |
| admin | reference data |

Which role calls which route, and what a department sees of it: docs/roles.md (a test walks
it against every route). Party-only reads: `visible_to` below.

Keys are configured hashed (sha256): DEPARTMENT_API_KEYS
``[{"key_id": "assembly-1", "department": "ASSEMBLY", "sha256": "<hex>"}, ...]`` and, for each
other role, <ROLE>_API_KEYS (ADMIN_API_KEYS, FINANCE_API_KEYS, ANALYST_API_KEYS,
OPERATOR_API_KEYS) ``[{"key_id": "ops-admin", "sha256": "<hex>"}, ...]``.
Unset (only allowed in local and test), every department, including one added at run time,
has two well-known development keys ``dev-<code>-1`` and ``dev-<code>-2`` (lower case), and
each other role has ``dev-<role>-1``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Literal, get_args

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter

from supplychain_kit.http.problems import Problem
from supplychain_kit.settings import ServiceSettings

Role = Literal["department", "finance", "analyst", "operator", "admin"]
# The roles that act for no department (a key of theirs names no department).
STAFF_ROLES: tuple[Role, ...] = ("finance", "analyst", "operator", "admin")
ADMIN = "admin"
# dev-<department code in lower case>-<1|2>: any department, also one added at run time.
_DEVELOPMENT_KEY = re.compile(r"^dev-([a-z][a-z0-9_]{1,31})-([12])$")
DEVELOPMENT_ADMIN_KEY = "dev-admin-1"


class ApiKey(BaseModel):
    key_id: str
    department: str
    sha256: str


class AdminKey(BaseModel):
    """A key of a role that acts for no department (admin, finance, analyst, operator)."""

    key_id: str
    sha256: str


@dataclass(frozen=True)
class Principal:
    """Who is calling, through which key: a department, or staff of a role. Staff keys carry
    their role's name in `department` (they act for no department)."""

    department: str
    key_id: str
    role: Role = "department"

    @property
    def is_department(self) -> bool:
        return self.role == "department"


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def development_principal(key: str) -> Principal | None:
    """The principal of a development key (local and test only), None for any other key."""
    for role in STAFF_ROLES:
        if key == f"dev-{role}-1":
            return Principal(department=role, key_id=f"{role}-1", role=role)
    match = _DEVELOPMENT_KEY.match(key)
    if match is None or match.group(1) in STAFF_ROLES:
        return None
    code, number = match.groups()
    return Principal(department=code.upper(), key_id=f"{code}-{number}")


@cache
def _keys(
    departments: str | None, staff: tuple[tuple[Role, str | None], ...]
) -> dict[str, Principal]:
    """sha256 → principal of every configured key."""
    known: dict[str, Principal] = {}
    for key in TypeAdapter(list[ApiKey]).validate_python(json.loads(departments or "[]")):
        known[key.sha256.lower()] = Principal(department=key.department, key_id=key.key_id)
    for role, configured in staff:
        for entry in TypeAdapter(list[AdminKey]).validate_python(json.loads(configured or "[]")):
            known[entry.sha256.lower()] = Principal(department=role, key_id=entry.key_id, role=role)
    return known


def identify(
    key: str,
    *,
    departments: str | None,
    admins: str | None,
    development: bool,
    finance: str | None = None,
    analysts: str | None = None,
    operators: str | None = None,
) -> Principal | None:
    """Who holds `key`. Development keys work where they are allowed, for a role whose keys
    are not configured (configured keys replace them)."""
    staff: tuple[tuple[Role, str | None], ...] = (
        ("admin", admins),
        ("finance", finance),
        ("analyst", analysts),
        ("operator", operators),
    )
    digest = key_digest(key)
    for known, configured in _keys(departments, staff).items():
        if hmac.compare_digest(known, digest):
            return configured
    principal = development_principal(key) if development else None
    if principal is None:
        return None
    configured_for_role = departments if principal.is_department else dict(staff)[principal.role]
    return None if configured_for_role else principal


def identify_with(settings: ServiceSettings, key: str) -> Principal | None:
    """Who holds `key` under a service's configured keys (None: nobody)."""
    return identify(
        key,
        departments=settings.department_api_keys,
        admins=settings.admin_api_keys,
        finance=settings.finance_api_keys,
        analysts=settings.analyst_api_keys,
        operators=settings.operator_api_keys,
        development=settings.development_keys_allowed,
    )


_bearer = HTTPBearer(auto_error=False, description="the caller's API key")


def _principal(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Principal:
    if credentials is None:
        raise Problem(
            401,
            "authenticate: Authorization: Bearer <key> (a department's key, or a key of a "
            "role: finance, analyst, operator, admin)",
            title="Unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    principal = identify_with(request.app.state.runtime.settings, credentials.credentials)
    if principal is None:
        raise Problem(
            401, "unknown API key", title="Unauthorized", headers={"WWW-Authenticate": "Bearer"}
        )
    return principal


def _roles_text(roles: tuple[Role, ...]) -> str:
    names = [f"a {role} key" if role != "admin" else "an admin key" for role in roles]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def authenticate_roles(
    *roles: Role,
) -> Callable[[Request, HTTPAuthorizationCredentials | None], Awaitable[Principal]]:
    """A dependency admitting keys of `roles` only (403 for a known key of another role)."""
    unknown = set(roles) - set(get_args(Role))
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    async def authenticate_role(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = _principal(request, credentials)
        if principal.role not in roles:
            raise Problem(403, f"this route needs {_roles_text(roles)}", title="Forbidden")
        return principal

    return authenticate_role


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """A department's key; a key of another role acts for no department."""
    principal = _principal(request, credentials)
    if not principal.is_department:
        raise Problem(
            403,
            f"a {principal.role} key acts for no department: act for a department with its key",
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
Finance = Annotated[Principal, Depends(authenticate_roles("finance"))]
# A department (party-only reads) or finance (every department's money).
DepartmentOrFinance = Annotated[Principal, Depends(authenticate_roles("department", "finance"))]


def require_department(caller: Principal, department: str, *, action: str) -> None:
    """A department acts only for itself."""
    if caller.department != department:
        raise Problem(
            403, f"{caller.department} cannot {action} for {department}", title="Forbidden"
        )


# --- party-only reads (issue 23) ------------------------------------------------------------

# Names no department (codes are never empty): what a read shows a role it shows nothing.
NO_PARTY = ""


@dataclass(frozen=True)
class Visibility:
    """Which rows of a read its caller sees: those naming its department as a party, every
    row (a role that reads them all, or the service itself), or none (any other role).

    The one mechanism of party-only reads: a store read a route calls takes one and puts
    `where(...)` in its WHERE clause, `party` bound as that parameter. Routes never compare
    parties themselves, so a read another department is not party to finds nothing (404,
    as if missing) and a list leaves those rows out."""

    party: str | None  # the department a row must name; None: every row

    @property
    def everything(self) -> bool:
        return self.party is None

    def where(self, *parties: str, param: int) -> str:
        """SQL true for a row one of whose `parties` (column expressions) is the caller's
        department, or for every row when it reads them all; bind `party` as `$param`.

        Two texts, not one `$n IS NULL OR ...`: a prepared statement's generic plan can then
        use the index on a party column (a department's list of its orders)."""
        if not parties:
            raise ValueError("a party-only read names at least one party column")
        if self.party is None:
            return f"(${param}::text IS NULL)"
        return f"(${param}::text IN ({', '.join(parties)}))"

    def admits(self, *parties: str | None) -> bool:
        """The same rule on parties in hand (a department named in a path)."""
        return self.party is None or self.party in parties


# The service itself (a command checking its own rules, a job, a test): every row.
EVERY_ROW = Visibility(party=None)


def visible_to(principal: Principal, *, every_row: Collection[Role] = ()) -> Visibility:
    """What `principal` sees of a read whose rows name their parties: a department the rows
    it is party to; a role in `every_row` all of them; any other role none (fail closed: a
    route that let such a key through still shows it nothing)."""
    if principal.is_department:
        return Visibility(party=principal.department)
    if principal.role in every_row:
        return EVERY_ROW
    return Visibility(party=NO_PARTY)
