"""HTTP API of the handoff analytics (issue 15): where the time of a handoff goes, bottlenecks.

The bottlenecks of the company, with the orders and traces of their worst examples, are
company-wide process data: analyst keys only (issue 23; a department key gets 403). A
department reads the time split of its own orders in their handoffs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from supplychain_contracts import Stage
from supplychain_kit.http.app import Db
from supplychain_kit.http.auth import Principal, authenticate_roles
from supplychain_kit.http.problems import PROBLEM_RESPONSE

from monitoring.analytics import bottlenecks, store, time_split
from monitoring.analytics.scorecards import SplitSeconds, period_bounds

router = APIRouter(prefix="/v1", tags=["analytics"])
Analyst = Annotated[Principal, Depends(authenticate_roles("analyst"))]
PERIOD = Query(pattern=r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$", description="month, YYYY-MM (UTC)")


class TimeSplit(BaseModel):
    wall_seconds: SplitSeconds
    business_seconds: SplitSeconds = Field(
        description="in the working time of the department owing each part (the supplier's "
        "calendar; the requester's for the time with the requester)"
    )
    open: bool = Field(description="the stage runs: the split counts until now")
    critical_path: list[UUID] = Field(
        default_factory=list,
        description="end_to_end: the orders the roll-up follows, the order first, then the "
        "sub-order it received last, and so on",
    )

    @classmethod
    def of(cls, split: time_split.Split) -> TimeSplit:
        return cls(
            wall_seconds=SplitSeconds.of(split.wall),
            business_seconds=SplitSeconds.of(split.business),
            open=split.open,
            critical_path=list(split.critical_path),
        )


async def handoff_splits(
    conn: asyncpg.Connection, order_id: UUID, *, now: datetime
) -> dict[tuple[UUID, str], TimeSplit]:
    """The split of every stage of the order and its sub-orders, by (order id, stage); each
    end_to_end rolled up over its own sub-chain."""
    orders = await store.chain_facts(conn, order_id)
    calendar_of = await store.calendars(conn)
    return {
        (order, stage.value): TimeSplit.of(split)
        for order in orders
        for stage, split in time_split.stage_splits(
            order, orders, now=now, calendar_of=calendar_of
        ).items()
    }


class Example(BaseModel):
    root_order_id: UUID
    order_ids: list[UUID] = Field(description="the orders of the chain where it waited")
    trace_id: str | None
    waiting_seconds: float


class Bottleneck(BaseModel):
    waiting_seconds: float = Field(
        description="time on the critical path not worked: waiting, unexplained blocked, with "
        "the requester, paused"
    )
    lead_time_seconds: float = Field(description="all of its time on the critical path")
    share_of_lead_time: float | None = Field(description="of the root orders' total lead time")
    wall_seconds: SplitSeconds
    root_orders: int = Field(description="root orders whose critical path it is on")
    examples: list[Example] = Field(description="the worst root orders, most waiting first")


class PairBottleneck(Bottleneck):
    requester: str
    supplier: str


class StageBottleneck(Bottleneck):
    stage: Stage


class Bottlenecks(BaseModel):
    period: str
    root_orders: int = Field(description="root orders delivered in the period")
    lead_time_seconds: float = Field(description="their end-to-end lead time, summed")
    pairs: list[PairBottleneck]
    stages: list[StageBottleneck]


def _bottleneck(item: bottlenecks.Bottleneck, total: float) -> dict[str, Any]:
    return Bottleneck(
        waiting_seconds=round(item.waiting_seconds, 3),
        lead_time_seconds=round(item.lead_time_seconds, 3),
        share_of_lead_time=round(item.lead_time_seconds / total, 4) if total else None,
        wall_seconds=SplitSeconds.of(item.seconds),
        root_orders=item.roots,
        examples=[
            Example(
                root_order_id=e.root_order_id,
                order_ids=list(e.order_ids),
                trace_id=e.trace_id,
                waiting_seconds=round(e.waiting_seconds, 3),
            )
            for e in item.examples
        ],
    ).model_dump()


async def rank_bottlenecks(conn: asyncpg.Connection, *, period: str, now: datetime) -> Bottlenecks:
    start, end = period_bounds(period)
    orders = await store.chains_delivered(conn, start=start, end=end, roots_only=True)
    roots = [
        o.order_id
        for o in orders.values()
        if o.order_id == o.root_order_id and o.delivered_at and start <= o.delivered_at < end
    ]
    ranking = bottlenecks.rank(
        time_split.chain_segments(root, orders, now=now) for root in sorted(roots, key=str)
    )
    total = ranking.lead_time_seconds
    return Bottlenecks(
        period=period,
        root_orders=ranking.root_orders,
        lead_time_seconds=round(total, 3),
        pairs=[
            PairBottleneck(requester=b.key[0], supplier=b.key[1], **_bottleneck(b, total))
            for b in ranking.pairs
        ],
        stages=[
            StageBottleneck(stage=Stage(b.key[0]), **_bottleneck(b, total)) for b in ranking.stages
        ],
    )


@router.get(
    "/analytics/bottlenecks",
    response_model=Bottlenecks,
    responses={status: PROBLEM_RESPONSE for status in (401, 403, 422)},
)
async def bottlenecks_of_period(
    caller: Analyst, db: Db, period: Annotated[str, PERIOD]
) -> Bottlenecks:
    """Requester → supplier pairs and stages ranked by the waiting they add to the lead time
    of root orders delivered in the month (along each chain's critical path), with the worst
    orders and their traces. Analyst keys only."""
    return await rank_bottlenecks(db, period=period, now=datetime.now(UTC))
