"""Callers authenticate as a department with a bearer key; a department acts for itself.

Keys are configured hashed (sha256) in DEPARTMENT_API_KEYS:
``[{"key_id": "assembly-1", "department": "ASSEMBLY", "sha256": "<hex>"}, ...]``.
Unset, every department of the sample company gets two well-known development keys,
``dev-<code>-1`` and ``dev-<code>-2`` (lower case), refused outside local and test.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from functools import cache
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, TypeAdapter
from supplychain_contracts.company import sample_company

from supplychain_kit.problems import Problem


class ApiKey(BaseModel):
    key_id: str
    department: str
    sha256: str


@dataclass(frozen=True)
class Principal:
    """Who is calling: a department, through one of its keys."""

    department: str
    key_id: str


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def development_keys() -> list[ApiKey]:
    return [
        ApiKey(
            key_id=f"{d.code.lower()}-{n}",
            department=d.code,
            sha256=key_digest(f"dev-{d.code.lower()}-{n}"),
        )
        for d in sample_company().departments
        for n in (1, 2)
    ]


@cache
def _keys(configured: str | None) -> dict[str, ApiKey]:
    keys = (
        TypeAdapter(list[ApiKey]).validate_python(json.loads(configured))
        if configured
        else development_keys()
    )
    return {key.sha256.lower(): key for key in keys}


_bearer = HTTPBearer(auto_error=False, description="the calling department's API key")


def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None:
        raise Problem(
            401,
            "authenticate as a department: Authorization: Bearer <department key>",
            title="Unauthorized",
            headers={"WWW-Authenticate": "Bearer"},
        )
    configured = request.app.state.runtime.settings.department_api_keys
    digest = key_digest(credentials.credentials)
    for known, key in _keys(configured).items():
        if hmac.compare_digest(known, digest):
            return Principal(department=key.department, key_id=key.key_id)
    raise Problem(
        401, "unknown API key", title="Unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


Caller = Annotated[Principal, Depends(authenticate)]


def require_department(caller: Principal, department: str, *, action: str) -> None:
    """A department acts only for itself."""
    if caller.department != department:
        raise Problem(
            403, f"{caller.department} cannot {action} for {department}", title="Forbidden"
        )
