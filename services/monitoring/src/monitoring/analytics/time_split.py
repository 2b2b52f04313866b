"""Where the time of a handoff goes (pure): an order's recorded events cut its life into
segments of waiting, working, blocked on upstream, with the requester and paused.

The segments of one order never overlap and cover placement until delivery (or rejection or
cancelled work, `WorkCancelled`: a cancellation request alone, `OrderCancelled`, ends nothing,
nor does a refused one; `now` for an open order), then the invoicing stage. Where two reasons hold at
once the stronger wins: paused (the supplier waits on the requester) over blocked (it waits
on its sub-orders, which fulfilment requests on acceptance, often before work starts) over
the phase of the order (waiting until WorkStarted, working until OrderShipped, with the
requester until OrderDelivered; the supplier's finance works the invoicing stage).

A chain rolls up along its critical path: the blocked time of an order is replaced by the
segments of the sub-order delivered last (recursively); what no sub-order covers stays blocked.

Only recorded events count, by their `occurred_at`: the result does not depend on the order
in which they arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from typing import Any
from uuid import UUID

from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    HelpAnswered,
    HelpAwaitingRequester,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Stage,
    WorkCancelled,
    WorkStarted,
)
from supplychain_contracts.company import BusinessCalendar, NamedCalendar, SlaPolicy

from monitoring.reference.versions import Version, in_force
from monitoring.sla import rules as sla

ALWAYS = BusinessCalendar()  # 24x7 UTC: a department without a general policy


class Category(StrEnum):
    WAITING = "waiting"
    WORKING = "working"
    BLOCKED = "blocked"
    WITH_REQUESTER = "with_requester"
    PAUSED = "paused"


# Time the chain spends without anybody working on the order.
NOT_WORKING = frozenset(set(Category) - {Category.WORKING})


@dataclass(frozen=True)
class RecordedEvent:
    event_type: str
    occurred_at: datetime
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class OrderFacts:
    """An order as monitoring recorded it: its parties and every event seen of it."""

    order_id: UUID
    root_order_id: UUID
    parent_order_id: UUID | None
    supplier: str
    requester: str
    trace_id: str | None
    events: tuple[RecordedEvent, ...]

    def first(self, event_type: str) -> datetime | None:
        times = [e.occurred_at for e in self.events if e.event_type == event_type]
        return min(times) if times else None

    @property
    def delivered_at(self) -> datetime | None:
        return self.first(_name(OrderDelivered))


@dataclass(frozen=True)
class Segment:
    """A stretch of an order's time: one category, one stage, owed by one department."""

    start: datetime
    end: datetime
    category: Category
    stage: Stage
    order_id: UUID
    root_order_id: UUID
    supplier: str
    requester: str
    trace_id: str | None

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def department(self) -> str:
        """Who owes the time: the requester confirms receipt, the supplier owes the rest."""
        return self.requester if self.category is Category.WITH_REQUESTER else self.supplier

    def clipped(self, start: datetime, end: datetime) -> Segment:
        return replace(self, start=max(start, self.start), end=min(end, self.end))


@dataclass(frozen=True)
class Split:
    """Seconds per category in wall time and in the responsible departments' working time."""

    wall: Mapping[Category, float]
    business: Mapping[Category, float]
    open: bool = False
    critical_path: tuple[UUID, ...] = ()

    @property
    def total_wall(self) -> float:
        return sum(self.wall.values())


CalendarOf = Callable[[str, datetime], BusinessCalendar]

# The events that mark an order's time (the others need not be read).
MILESTONES = tuple(
    event_class.__name__
    for event_class in (
        OrderPlaced,
        OrderAccepted,
        OrderRejected,
        WorkCancelled,
        WorkStarted,
        ComponentsRequested,
        ComponentsReceived,
        HelpAwaitingRequester,
        HelpAnswered,
        OrderShipped,
        OrderDelivered,
        InvoiceIssued,
    )
)


# the milestones whose payload the split reads (pauses, the sub-orders components name);
# the others' payloads are not fetched
PAYLOAD_READ = tuple(
    event_class.__name__
    for event_class in (ComponentsRequested, HelpAwaitingRequester, HelpAnswered)
)


def _name(event_class: type) -> str:
    return event_class.__name__


def _intervals(
    starts: Sequence[tuple[str | None, datetime]], ends: Sequence[tuple[str | None, datetime]]
) -> list[tuple[datetime, datetime | None]]:
    """Pair each start with its end: by key when both carry one, else in time order."""
    remaining = sorted(ends, key=lambda item: item[1])
    pairs: list[tuple[datetime, datetime | None]] = []
    for key, start in sorted(starts, key=lambda item: item[1]):
        match = next(
            (
                end
                for end in remaining
                if end[1] >= start and (key is None or end[0] is None or end[0] == key)
            ),
            None,
        )
        if match is not None:
            remaining.remove(match)
        pairs.append((start, match[1] if match else None))
    return pairs


def _events(order: OrderFacts, event_class: type) -> list[RecordedEvent]:
    return [e for e in order.events if e.event_type == _name(event_class)]


def pauses(order: OrderFacts) -> list[tuple[datetime, datetime | None]]:
    """HelpAwaitingRequester → HelpAnswered of the same help request (open: not answered)."""
    return _intervals(
        [
            (e.payload.get("help_event_id"), e.occurred_at)
            for e in _events(order, HelpAwaitingRequester)
        ],
        [(e.payload.get("help_event_id"), e.occurred_at) for e in _events(order, HelpAnswered)],
    )


def blocks(
    order: OrderFacts, sub_orders: Iterable[OrderFacts] = ()
) -> list[tuple[datetime, datetime | None]]:
    """ComponentsRequested → ComponentsReceived. An order recorded before ComponentsReceived
    existed is unblocked by the delivery of its last sub-order, when all of them arrived."""
    requested = [(None, e.occurred_at) for e in _events(order, ComponentsRequested)]
    received = [(None, e.occurred_at) for e in _events(order, ComponentsReceived)]
    if requested and not received:
        arrivals = [sub.delivered_at for sub in sub_orders]
        if arrivals and all(arrivals):
            received = [(None, max(a for a in arrivals if a is not None))]
    return _intervals(requested, received)


def sub_order_ids(order: OrderFacts) -> set[UUID]:
    """The sub-orders ComponentsRequested names (the orders table names them by parent too)."""
    return {
        UUID(str(component["order_id"]))
        for event in _events(order, ComponentsRequested)
        for component in event.payload.get("components", ())
        if "order_id" in component
    }


def _within(t: datetime, intervals: Iterable[tuple[datetime, datetime | None]]) -> bool:
    return any(start <= t and (end is None or t < end) for start, end in intervals)


def segments(
    order: OrderFacts, *, now: datetime, sub_orders: Iterable[OrderFacts] = ()
) -> list[Segment]:
    """The order's own time, cut at every milestone, in time order; empty before placement."""
    placed = order.first(_name(OrderPlaced)) or min(
        (e.occurred_at for e in order.events), default=None
    )
    if placed is None:
        return []
    accepted = order.first(_name(OrderAccepted))
    started = order.first(_name(WorkStarted))
    shipped = order.first(_name(OrderShipped))
    delivered = order.first(_name(OrderDelivered))
    invoiced = order.first(_name(InvoiceIssued))
    stopped = min(
        (t for t in (order.first(_name(OrderRejected)), order.first(_name(WorkCancelled))) if t),
        default=None,
    )
    if delivered is not None:
        closing = max(invoiced or now, delivered)
    else:
        closing = min(stopped, now) if stopped else now
    paused, blocked = pauses(order), blocks(order, sub_orders)

    def category(t: datetime) -> Category:
        before_delivery = delivered is None or t < delivered
        if before_delivery and _within(t, paused):
            return Category.PAUSED
        if (shipped is None or t < shipped) and _within(t, blocked):
            return Category.BLOCKED
        if delivered is not None and t >= delivered:
            return Category.WORKING  # the supplier's finance invoices
        if shipped is not None and t >= shipped:
            return Category.WITH_REQUESTER
        if started is not None and t >= started:
            return Category.WORKING
        return Category.WAITING

    def stage(t: datetime) -> Stage:
        for begins, name in (
            (delivered, Stage.INVOICING),
            (shipped, Stage.DELIVERY),
            (accepted, Stage.FULFILMENT),
        ):
            if begins is not None and t >= begins:
                return name
        return Stage.ACCEPTANCE

    edges = {placed, closing, accepted, started, shipped, delivered}
    edges |= {t for interval in paused + blocked for t in interval}
    cuts = sorted(t for t in edges if t is not None and placed <= t <= closing)
    result: list[Segment] = []
    for start, end in pairwise(cuts):
        piece = Segment(
            start=start,
            end=end,
            category=category(start),
            stage=stage(start),
            order_id=order.order_id,
            root_order_id=order.root_order_id,
            supplier=order.supplier,
            requester=order.requester,
            trace_id=order.trace_id,
        )
        last = result[-1] if result else None
        if last and (last.category, last.stage) == (piece.category, piece.stage):
            result[-1] = replace(last, end=end)
        else:
            result.append(piece)
    return result


def end_to_end(pieces: Iterable[Segment]) -> list[Segment]:
    """Placement until delivery: every stage but invoicing."""
    return [s for s in pieces if s.stage is not Stage.INVOICING]


def children(order_id: UUID, orders: Mapping[UUID, OrderFacts]) -> list[OrderFacts]:
    named = sub_order_ids(orders[order_id]) if order_id in orders else set()
    return [o for o in orders.values() if o.parent_order_id == order_id or o.order_id in named]


def order_segments(
    order_id: UUID, orders: Mapping[UUID, OrderFacts], *, now: datetime
) -> list[Segment]:
    """One order's own segments (its sub-orders only tell when it was unblocked)."""
    return segments(orders[order_id], now=now, sub_orders=children(order_id, orders))


def last_arrival(
    order_id: UUID, orders: Mapping[UUID, OrderFacts], *, now: datetime, seen: frozenset[UUID]
) -> OrderFacts | None:
    """The sub-order delivered last (an undelivered one arrives last of all); None without."""
    subs = [o for o in children(order_id, orders) if o.order_id not in seen | {order_id}]
    if not subs:
        return None
    return max(subs, key=lambda o: (o.delivered_at is None, o.delivered_at or now, str(o.order_id)))


def chain_segments(
    order_id: UUID,
    orders: Mapping[UUID, OrderFacts],
    *,
    now: datetime,
    _seen: frozenset[UUID] = frozenset(),
) -> list[Segment]:
    """Placement until delivery of the order along the critical path of its sub-chain: its
    blocked time shows the segments of the sub-order that arrived last, recursively; what
    that sub-order does not cover stays blocked."""
    own = end_to_end(order_segments(order_id, orders, now=now))
    last = last_arrival(order_id, orders, now=now, seen=_seen)
    if last is None:
        return own
    upstream = chain_segments(last.order_id, orders, now=now, _seen=_seen | {order_id})
    result: list[Segment] = []
    for piece in own:
        if piece.category is not Category.BLOCKED:
            result.append(piece)
            continue
        cursor = piece.start
        for sub in upstream:
            covered = sub.clipped(piece.start, piece.end)
            if covered.start >= covered.end:
                continue
            if covered.start > cursor:
                result.append(piece.clipped(cursor, covered.start))
            result.append(covered)
            cursor = covered.end
        if cursor < piece.end:
            result.append(piece.clipped(cursor, piece.end))
    return result


def critical_path(
    order_id: UUID, orders: Mapping[UUID, OrderFacts], *, now: datetime
) -> tuple[UUID, ...]:
    """The order, the sub-order it received last, that one's last, ...: root first."""
    path = [order_id]
    while (last := last_arrival(path[-1], orders, now=now, seen=frozenset(path))) is not None:
        path.append(last.order_id)
    return tuple(path)


def split(
    pieces: Sequence[Segment],
    calendar_of: CalendarOf,
    *,
    open: bool = False,
    critical_path: tuple[UUID, ...] = (),
) -> Split:
    """Sum the segments per category, in wall seconds and in the working time of the
    department each segment is owed by (its calendar in force when the segment began)."""
    wall = dict.fromkeys(Category, 0.0)
    business = dict.fromkeys(Category, 0.0)
    for piece in pieces:
        wall[piece.category] += piece.seconds
        calendar = calendar_of(piece.department, piece.start)
        business[piece.category] += sla.business_seconds(piece.start, piece.end, calendar)
    return Split(
        wall=wall,
        business=business,
        open=open,
        critical_path=critical_path,
    )


def is_open(order: OrderFacts, stage: Stage) -> bool:
    """The stage has not ended yet (its split runs to now)."""
    ends = {
        Stage.ACCEPTANCE: (OrderAccepted, OrderRejected, WorkCancelled),
        Stage.FULFILMENT: (OrderShipped, WorkCancelled),
        Stage.DELIVERY: (OrderDelivered,),
        Stage.INVOICING: (InvoiceIssued,),
        Stage.END_TO_END: (OrderDelivered, OrderRejected, WorkCancelled),
    }[stage]
    return not any(order.first(_name(event_class)) for event_class in ends)


def stage_splits(
    order_id: UUID,
    orders: Mapping[UUID, OrderFacts],
    *,
    now: datetime,
    calendar_of: CalendarOf,
) -> dict[Stage, Split]:
    """The split of each stage of the order; end_to_end rolled up over its sub-chain."""
    order = orders[order_id]
    own = order_segments(order_id, orders, now=now)
    result = {
        stage: split([s for s in own if s.stage is stage], calendar_of, open=is_open(order, stage))
        for stage in (Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.DELIVERY, Stage.INVOICING)
    }
    result[Stage.END_TO_END] = split(
        chain_segments(order_id, orders, now=now),
        calendar_of,
        open=is_open(order, Stage.END_TO_END),
        critical_path=critical_path(order_id, orders, now=now),
    )
    return result


def general_calendar(
    policies: Sequence[Version[SlaPolicy]], calendars: Sequence[Version[NamedCalendar]]
) -> CalendarOf:
    """The calendar a department's own policies count in: its general policy as supplier
    (no requester, no priority) in force at the time; 24x7 when it has none."""

    def calendar_of(department: str, at: datetime) -> BusinessCalendar:
        general = [
            version
            for version in in_force(policies, at)
            if version.content.supplier == department
            and version.content.requester is None
            and version.content.priority is None
        ]
        if not general:
            return ALWAYS
        return sla.calendar_for(general[0].content, calendars, at)

    return calendar_of
