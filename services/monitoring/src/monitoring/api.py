"""HTTP API of monitoring: handoff timelines, SLA policies, supplier scorecards.

Who reads what (docs/roles.md): a department the handoffs of the orders it is party to, or
that an order it is party to waits on (its chain below it), 404 for any other; an analyst
every order's. SLA policies and the scorecards (aggregates per supplier, no order or trace
ids) are shared across the company.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Self
from uuid import UUID

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from supplychain_contracts.company import BusinessCalendar, SlaPolicy
from supplychain_kit.http.app import Db
from supplychain_kit.http.auth import Principal, Role, authenticate_roles, visible_to
from supplychain_kit.http.params import department_code_query
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem

from monitoring.analytics import api as analytics_api
from monitoring.analytics import scorecards
from monitoring.reference import store as reference_store
from monitoring.reference.versions import Version, in_force
from monitoring.sla import pauses
from monitoring.sla import rules as sla
from monitoring.sla import store as clock_store
from monitoring.timeline import store as timeline_store

router = APIRouter(prefix="/v1")
PROBLEM = PROBLEM_RESPONSE
# A department (party-only timelines, shared aggregates) or an analyst (company-wide process
# data); SLA policies are read by finance too (the credit an SLA breach carries).
ProcessReader = Annotated[Principal, Depends(authenticate_roles("department", "analyst"))]
PolicyReader = Annotated[Principal, Depends(authenticate_roles("department", "finance", "analyst"))]
ANALYSTS_READ_ALL: tuple[Role, ...] = ("analyst",)


class PauseInterval(BaseModel):
    reason: str = Field(description="awaiting_requester | blocked_on_sub_orders")
    paused_at: datetime
    resumed_at: datetime | None = Field(description="None while the clock stands still")


class HandoffStage(BaseModel):
    """One stage of one order: its parties, start and end, SLA target, warning, deadline and
    status now. The handoffs API answers it with its time split and pauses (`Handoff`); the
    console draws it as a waterfall bar."""

    order_id: UUID
    parent_order_id: UUID | None
    depth: int
    stage: str
    supplier: str
    requester: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_s: float | None
    target_seconds: float | None
    warn_at: datetime | None
    deadline: datetime | None
    status: sla.Status = Field(
        description="open | paused | warning | breached while it runs; met | breached once it "
        "ended, or the outcome its order ended with (rejected | cancelled | blocked) unless a "
        "breach raised while it ran stands"
    )
    outcome: str | None = Field(
        default=None,
        description="rejected | cancelled | blocked: its order ended before the stage did, and "
        "closed it then (no verdict comes after it); None: it ended by its own ending event",
    )
    breach_retracted: bool = Field(
        default=False,
        description="a breach raised while it ran was retracted: a late ending event showed "
        "it ended by its deadline (SlaBreachRetracted); its status is met",
    )
    trace_id: str | None

    @classmethod
    def of_row(cls, row: Mapping[str, Any], *, now: datetime, **more: Any) -> Self:
        """The stage as the timeline store keeps it (`target_s`), with its SLA status now."""
        return cls.model_validate(
            {
                **row,
                "target_seconds": row["target_s"],
                "status": sla.status_of(row, now=now),
                **more,
            }
        )


class Handoff(HandoffStage):
    time_split: analytics_api.TimeSplit | None = Field(
        default=None,
        description="where the stage's time went; on end_to_end rolled up over the sub-chain "
        "along its critical path",
    )
    paused_seconds: float = Field(
        default=0.0, description="business seconds its clock stood still (pauses ended so far)"
    )
    pauses: list[PauseInterval] = Field(
        default_factory=list, description="when its SLA clock stood still, and why"
    )


class Policy(BaseModel):
    policy_id: int = Field(description="the policy's number, stable across its versions")
    policy_key: str = Field(description="the policy's identity (SlaPolicyDefined.policy_id)")
    version: int
    effective_from: datetime
    supplier: str
    requester: str | None
    priority: str | None
    targets_seconds: dict[str, float]
    warning_threshold: float
    calendar: BusinessCalendar = Field(description="the calendar its clocks count in now")
    calendar_code: str | None = None
    service_credit_pct: Decimal


@router.get(
    "/orders/{order_id}/handoffs",
    tags=["handoffs"],
    response_model=list[Handoff],
    responses={404: PROBLEM},
)
async def order_handoffs(order_id: UUID, db: Db, caller: ProcessReader) -> list[Handoff]:
    """Every stage of the order and its sub-orders: durations, targets, SLA status (with the
    outcome its order ended with, and a retracted breach), trace ids. A department reads an
    order it is party to, or one below such an order in its chain (404 for any other)."""
    visible = visible_to(caller, every_row=ANALYSTS_READ_ALL)
    if not await timeline_store.order_visible(db, order_id, visible=visible):
        raise Problem(404, f"no handoffs recorded for order {order_id}", field="order_id")
    now = datetime.now(UTC)
    splits = await analytics_api.handoff_splits(db, order_id, now=now)
    rows = await timeline_store.handoffs(db, order_id)
    edges = await clock_store.pause_edges(db, list({row["order_id"] for row in rows}))
    return [
        Handoff.of_row(
            row,
            now=now,
            time_split=splits.get((row["order_id"], row["stage"])),
            paused_seconds=row["paused_s"],
            pauses=_stage_pauses(row, edges.get(row["order_id"], [])),
        )
        for row in rows
    ]


def _stage_pauses(row: dict[str, Any], edges: list[pauses.PauseEdge]) -> list[PauseInterval]:
    if not row["pause_reasons"] or row["started_at"] is None:
        return []
    cut = pauses.stage_pauses(
        pauses.pause_intervals(edges),
        row["pause_reasons"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
    )
    return [
        PauseInterval(reason=p.reason.value, paused_at=p.paused_at, resumed_at=p.resumed_at)
        for p in cut
    ]


@router.get("/sla/policies", tags=["sla"], response_model=list[Policy])
async def sla_policies(
    db: Db,
    caller: PolicyReader,
    supplier: Annotated[
        str | None,
        department_code_query("only this supplying department"),
    ] = None,
) -> list[Policy]:
    """The SLA policies in force: version, targets per stage, warning threshold, business
    calendar."""
    now = datetime.now(UTC)
    named = await reference_store.calendar_versions(db)
    return [
        _policy(version, sla.calendar_for(version.content, named, now))
        for version in in_force(await reference_store.policy_versions(db, supplier=supplier), now)
        if supplier is None or version.content.supplier == supplier
    ]


def _policy(version: Version[SlaPolicy], calendar: BusinessCalendar) -> Policy:
    policy = version.content
    return Policy(
        policy_id=version.number,
        policy_key=version.key,
        version=version.version,
        effective_from=version.effective_from,
        supplier=policy.supplier,
        requester=policy.requester,
        priority=policy.priority.value if policy.priority else None,
        targets_seconds={stage.value: target for stage, target in policy.targets_seconds.items()},
        warning_threshold=policy.warning_threshold,
        calendar=calendar,
        calendar_code=policy.calendar_code,
        service_credit_pct=policy.service_credit_pct,
    )


@router.get(
    "/scorecards",
    tags=["scorecards"],
    response_model=list[scorecards.Scorecard],
    responses={422: PROBLEM},
)
async def supplier_scorecards(
    db: Db,
    caller: ProcessReader,
    period: Annotated[
        str, Query(pattern=r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$", description="month, YYYY-MM (UTC)")
    ],
) -> list[scorecards.Scorecard]:
    """Per supplier department in the month: orders, on-time % per stage, rejects, breaches,
    satisfaction and help requests. Aggregates shared across the company: counts and times
    per supplier and requester department, no order, trace or employee ids."""
    return await scorecards.for_period(db, period=period, now=datetime.now(UTC))
