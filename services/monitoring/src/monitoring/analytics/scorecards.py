"""Supplier scorecards of a month, assembled from the stored timelines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from pydantic import BaseModel, Field

from monitoring.analytics import store, time_split
from monitoring.analytics.time_split import Category, OrderFacts
from monitoring.sla import rules as sla


class SplitSeconds(BaseModel):
    """Seconds per category of the time split; together the elapsed time, with no overlap."""

    waiting: float = Field(description="placed until the supplier started work")
    working: float = Field(description="started until shipped, less blocked and paused")
    blocked: float = Field(description="waiting on its own sub-orders (owed upstream)")
    with_requester: float = Field(description="shipped until the requester confirmed receipt")
    paused: float = Field(description="the supplier waits on the requester's answer")

    @classmethod
    def of(cls, seconds: Mapping[Category, float], per: int = 1) -> SplitSeconds:
        return cls(**{c.value: round(seconds.get(c, 0.0) / max(per, 1), 3) for c in Category})


class DeliveredSplit(BaseModel):
    """Where the time of the orders delivered in the period went, placement to delivery (the
    order's own time: its sub-orders' time shows as blocked)."""

    orders_delivered: int
    total_wall_seconds: SplitSeconds
    total_business_seconds: SplitSeconds = Field(
        description="in the supplier's working time (the requester's for with_requester)"
    )
    average_wall_seconds: SplitSeconds
    average_business_seconds: SplitSeconds


class PairSplit(DeliveredSplit):
    requester: str


class StageCounts(BaseModel):
    """How the timed stages of one kind started in the period stand: each in one column."""

    met: int = Field(description="ended by their own ending event by the deadline")
    breached: int = Field(description="ended after the deadline, or running past it")
    rejected: int = Field(default=0, description="closed by the order's rejection")
    cancelled: int = Field(default=0, description="closed by a settled cancellation")
    blocked: int = Field(default=0, description="closed by a block that ended the order")
    breaches_retracted: int = Field(
        default=0, description="breaches a late ending event proved wrong (counted as met)"
    )


class Scorecard(BaseModel):
    supplier: str
    period: str
    orders_handled: int
    on_time_pct: dict[str, float | None] = Field(
        description="per stage, met of met + breached (stages closed by their order's outcome "
        "are neither)"
    )
    rejected: int = Field(description="orders the supplier rejected")
    reject_rate: float | None
    breaches: int = Field(description="stages breached (retracted breaches are not)")
    average_satisfaction: float | None
    ratings: int
    help_requests: int
    cancelled: int = Field(default=0, description="stages closed by a settled cancellation")
    blocked: int = Field(default=0, description="stages closed by a block that ended the order")
    breaches_retracted: int = Field(
        default=0, description="breaches retracted: a late ending event showed them wrong"
    )
    stages: dict[str, StageCounts] = Field(
        default_factory=dict, description="per stage, how its timed stages stand"
    )
    time_split: DeliveredSplit | None = Field(
        default=None, description="orders of the supplier delivered in the period"
    )
    time_split_by_requester: list[PairSplit] = Field(
        default_factory=list, description="the same per requester → supplier pair"
    )


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first instant of the month, first instant of the next) in UTC; period is YYYY-MM."""
    year, month = (int(part) for part in period.split("-"))
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def delivered_split(splits: Sequence[time_split.Split]) -> DeliveredSplit:
    wall = {c: sum(s.wall[c] for s in splits) for c in Category}
    business = {c: sum(s.business[c] for s in splits) for c in Category}
    return DeliveredSplit(
        orders_delivered=len(splits),
        total_wall_seconds=SplitSeconds.of(wall),
        total_business_seconds=SplitSeconds.of(business),
        average_wall_seconds=SplitSeconds.of(wall, len(splits)),
        average_business_seconds=SplitSeconds.of(business, len(splits)),
    )


async def delivered_splits(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, now: datetime
) -> dict[str, dict[str, list[time_split.Split]]]:
    """supplier → requester → the end-to-end split of each order delivered in [start, end)."""
    orders: Mapping[UUID, OrderFacts] = await store.chains_delivered(
        conn, start=start, end=end, roots_only=False
    )
    calendar_of = await store.calendars(conn)
    # an order's sub-orders are of its chain: each order is cut against its chain's orders
    # alone (against the month's, finding the sub-orders took time growing with its square)
    chains: dict[UUID, dict[UUID, OrderFacts]] = {}
    for order in orders.values():
        chains.setdefault(order.root_order_id, {})[order.order_id] = order
    found: dict[str, dict[str, list[time_split.Split]]] = {}
    for order in orders.values():
        if order.delivered_at is None or not start <= order.delivered_at < end:
            continue
        chain = chains[order.root_order_id]
        own = time_split.end_to_end(time_split.order_segments(order.order_id, chain, now=now))
        pairs = found.setdefault(order.supplier, {})
        pairs.setdefault(order.requester, []).append(time_split.split(own, calendar_of))
    return found


def _total(stages: Mapping[str, StageCounts], column: str) -> int:
    """One column of a supplier's stage counts, over its stages."""
    return sum(getattr(counts, column) for counts in stages.values())


async def for_period(
    conn: asyncpg.Connection, *, period: str, now: datetime, with_time_split: bool = True
) -> list[Scorecard]:
    """The suppliers' scorecards of the period. `with_time_split` False leaves the time split
    out (the console shows none): it walks every chain delivered in the period in Python, by
    far the costliest part, and the counts are read without it."""
    start, end = period_bounds(period)
    splits = await delivered_splits(conn, start=start, end=end, now=now) if with_time_split else {}
    # the suppliers that delivered in the period have a card either way
    delivering = (
        set(splits)
        if with_time_split
        else set(await store.event_counts(conn, event_type="OrderDelivered", start=start, end=end))
    )
    handled = await store.orders_handled(conn, start=start, end=end)
    rejected = await store.event_counts(conn, event_type="OrderRejected", start=start, end=end)
    help_requests = await store.event_counts(conn, event_type="HelpRequested", start=start, end=end)
    ratings = await store.satisfaction(conn, start=start, end=end)
    on_time: dict[str, dict[str, float | None]] = {}
    stages: dict[str, dict[str, StageCounts]] = {}
    for row in await store.stage_outcomes(conn, start=start, end=end, now=now):
        supplier = row["supplier"]
        counts = StageCounts.model_validate(dict(row))
        stages.setdefault(supplier, {})[row["stage"]] = counts
        on_time.setdefault(supplier, {})[row["stage"]] = sla.on_time_percent(
            counts.met, counts.breached
        )
    suppliers = sorted(
        set(handled) | set(rejected) | set(help_requests) | set(ratings) | set(on_time) | delivering
    )
    return [
        Scorecard(
            supplier=supplier,
            period=period,
            orders_handled=handled.get(supplier, 0),
            on_time_pct=on_time.get(supplier, {}),
            rejected=rejected.get(supplier, 0),
            reject_rate=rate(rejected.get(supplier, 0), handled.get(supplier, 0)),
            breaches=_total(stages.get(supplier, {}), "breached"),
            cancelled=_total(stages.get(supplier, {}), "cancelled"),
            blocked=_total(stages.get(supplier, {}), "blocked"),
            breaches_retracted=_total(stages.get(supplier, {}), "breaches_retracted"),
            stages=stages.get(supplier, {}),
            average_satisfaction=(round(ratings[supplier][0], 2) if supplier in ratings else None),
            ratings=ratings.get(supplier, (0.0, 0))[1],
            help_requests=help_requests.get(supplier, 0),
            time_split=(
                delivered_split([s for pair in splits[supplier].values() for s in pair])
                if supplier in splits
                else None
            ),
            time_split_by_requester=[
                PairSplit(requester=requester, **delivered_split(pair).model_dump())
                for requester, pair in sorted(splits.get(supplier, {}).items())
            ],
        )
        for supplier in suppliers
    ]
