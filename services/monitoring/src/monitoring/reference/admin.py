"""Admin API of monitoring: the SLA policies and business calendars it owns (admin keys only,
403 for department keys).

PUT defines one, in the body's company-file form: 201 when it is new, 200 when it made a new
version or changed nothing. GET shows the versions and the change history (who, when, before,
after). A route translates: parse, call a command (commands.py), answer its result or refusal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, Field
from supplychain_contracts.company import (
    CODE_PATTERN,
    BusinessCalendar,
    Code,
    NamedCalendar,
    SlaPolicy,
)
from supplychain_contracts.envelope import UtcDatetime
from supplychain_contracts.reference import entity_key
from supplychain_kit.http.app import Db
from supplychain_kit.http.auth import Admin
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem, refused_definitions
from supplychain_kit.http.strict_body import refuse_unknown_fields

from monitoring.reference import commands, store
from monitoring.reference.company import CALENDAR_KIND, POLICY_KIND
from monitoring.reference.versions import Content, Version, latest

router = APIRouter(prefix="/v1/admin", tags=["admin"])
PolicyId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="the policy's id: its `id`, else SUPPLIER[:from-REQUESTER][:priority]",
        examples=["ASSEMBLY:rush"],
    ),
]
CalendarCode = Annotated[
    str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN, examples=["BERLIN"])
]
EffectiveFrom = Annotated[
    UtcDatetime | None,
    Field(
        description="when the new version applies (to stages that start then or later); "
        "default now, never in the past"
    ),
]
READ_RESPONSES: dict[int | str, dict[str, Any]] = {401: PROBLEM_RESPONSE, 403: PROBLEM_RESPONSE}
DEFINE_RESPONSES: dict[int | str, dict[str, Any]] = {
    **READ_RESPONSES,
    201: {"description": "created: the first version"},
    422: PROBLEM_RESPONSE,
}
HISTORY_RESPONSES: dict[int | str, dict[str, Any]] = {**READ_RESPONSES, 404: PROBLEM_RESPONSE}


class PolicyDefinition(SlaPolicy):
    """An SLA policy as in the company file. Its departments are not checked: monitoring does
    not own departments."""

    effective_from: EffectiveFrom = None

    def policy(self) -> SlaPolicy:
        return SlaPolicy.model_validate(self.model_dump(exclude={"effective_from"}))


class CalendarDefinition(BusinessCalendar):
    """A named business calendar as in the company file (`code` defaults to the path's)."""

    code: Code | None = None
    name: str = ""
    effective_from: EffectiveFrom = None

    def calendar(self, code: str) -> NamedCalendar:
        fields = self.model_dump(exclude={"effective_from"})
        return NamedCalendar.model_validate({**fields, "code": self.code or code})


# A body key the definition does not know is refused (422), named with the closest known key.
KnownPolicyKeys = Annotated[None, refuse_unknown_fields(PolicyDefinition)]
KnownCalendarKeys = Annotated[None, refuse_unknown_fields(CalendarDefinition)]


class VersionOut(BaseModel):
    version: int
    effective_from: datetime
    active: bool = Field(description="false: removed from the company (kept for history)")
    changed_by: str = Field(description="the admin key id, or company-file")
    changed_at: datetime


class PolicyVersionOut(VersionOut):
    policy: SlaPolicy


class CalendarVersionOut(VersionOut):
    calendar: NamedCalendar


class ChangeOut(BaseModel):
    version: int
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None = Field(description="null: it did not exist (or was removed)")
    after: dict[str, Any] | None = Field(description="null: it was removed")


class PolicyOut(PolicyVersionOut):
    """A policy as its latest version defines it."""

    policy_id: str


class PolicyHistory(PolicyOut):
    versions: list[PolicyVersionOut]
    history: list[ChangeOut]


class CalendarOut(CalendarVersionOut):
    code: str


class CalendarHistory(CalendarOut):
    versions: list[CalendarVersionOut]
    history: list[ChangeOut]


def _version_fields(version: Version[Content]) -> dict[str, Any]:
    return {
        "version": version.version,
        "effective_from": version.effective_from,
        "active": version.active,
        "changed_by": version.changed_by,
        "changed_at": version.changed_at,
    }


async def _history(db: Db, kind: str, key: str) -> list[ChangeOut]:
    return [
        ChangeOut.model_validate(change, from_attributes=True)
        for change in await store.changes(db, entity_key(kind, key))
    ]


async def _policy_history(db: Db, policy_id: str) -> PolicyHistory:
    found = await store.policy_versions(db, key=policy_id)
    if not found:
        raise Problem(404, f"no SLA policy {policy_id}", field="policy_id")
    return PolicyHistory(
        policy_id=policy_id,
        **_version_fields(found[-1]),
        policy=found[-1].content,
        versions=[PolicyVersionOut(**_version_fields(v), policy=v.content) for v in found],
        history=await _history(db, POLICY_KIND, policy_id),
    )


async def _calendar_history(db: Db, code: str) -> CalendarHistory:
    found = await store.calendar_versions(db, code=code)
    if not found:
        raise Problem(404, f"no business calendar {code}", field="code")
    return CalendarHistory(
        code=code,
        **_version_fields(found[-1]),
        calendar=found[-1].content,
        versions=[CalendarVersionOut(**_version_fields(v), calendar=v.content) for v in found],
        history=await _history(db, CALENDAR_KIND, code),
    )


@router.put("/sla-policies/{policy_id}", response_model=PolicyHistory, responses=DEFINE_RESPONSES)
async def define_policy(
    policy_id: PolicyId,
    body: PolicyDefinition,
    db: Db,
    admin: Admin,
    _known: KnownPolicyKeys,
    response: Response,
) -> PolicyHistory:
    """Define an SLA policy: a new version when it changed; running clocks keep theirs."""
    with refused_definitions():
        defined = await commands.define_policy(
            db,
            policy_id,
            body.policy(),
            effective_from=body.effective_from,
            changed_by=admin.key_id,
            now=datetime.now(UTC),
        )
    response.status_code = 201 if defined.created else 200
    return await _policy_history(db, policy_id)


@router.get("/sla-policies", response_model=list[PolicyOut], responses=READ_RESPONSES)
async def list_policies(db: Db, admin: Admin) -> list[PolicyOut]:
    """Every SLA policy as its latest version defines it, removed ones included."""
    return [
        PolicyOut(policy_id=v.key, **_version_fields(v), policy=v.content)
        for v in latest(await store.policy_versions(db)).values()
    ]


@router.get(
    "/sla-policies/{policy_id}",
    response_model=PolicyHistory,
    responses=HISTORY_RESPONSES,
)
async def policy_history(policy_id: PolicyId, db: Db, admin: Admin) -> PolicyHistory:
    """An SLA policy's versions and change history (who, when, before, after)."""
    return await _policy_history(db, policy_id)


@router.put("/calendars/{code}", response_model=CalendarHistory, responses=DEFINE_RESPONSES)
async def define_calendar(
    code: CalendarCode,
    body: CalendarDefinition,
    db: Db,
    admin: Admin,
    _known: KnownCalendarKeys,
    response: Response,
) -> CalendarHistory:
    """Define a business calendar: a new version when it changed; running clocks keep their
    deadlines."""
    with refused_definitions():
        defined = await commands.define_calendar(
            db,
            code,
            body.calendar(code),
            effective_from=body.effective_from,
            changed_by=admin.key_id,
            now=datetime.now(UTC),
        )
    response.status_code = 201 if defined.created else 200
    return await _calendar_history(db, code)


@router.get("/calendars", response_model=list[CalendarOut], responses=READ_RESPONSES)
async def list_calendars(db: Db, admin: Admin) -> list[CalendarOut]:
    """Every business calendar as its latest version defines it, removed ones included."""
    return [
        CalendarOut(code=v.key, **_version_fields(v), calendar=v.content)
        for v in latest(await store.calendar_versions(db)).values()
    ]


@router.get(
    "/calendars/{code}",
    response_model=CalendarHistory,
    responses=HISTORY_RESPONSES,
)
async def calendar_history(code: CalendarCode, db: Db, admin: Admin) -> CalendarHistory:
    """A business calendar's versions and change history (who, when, before, after)."""
    return await _calendar_history(db, code)
