"""Paused SLA clocks (pure): when an order's clocks may stand still, which stages a reason stops
under a policy, and where a clock's warning and deadline fall once its pauses are taken out.

An order's pauses come from its fulfilment events, each the start or the end of one wait:
the supplier waits on the requester from `HelpAwaitingRequester` until the `HelpAnswered` of
the same help request, on its sub-orders from `ComponentsRequested` until `ComponentsReceived`.
They are timed by the events' `occurred_at`, so live and a replay reading the topics in any
order derive the same intervals, and from them the same deadlines.

A clock counts the working time of its calendar less the time it stood still: a pause that
straddles a night or a weekend takes off only the working time in it, and pauses that overlap
count once. While a pause that began before the target was reached is still open the deadline
is unknown (None): the clock stands still until it resumes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar, SlaPolicy
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.events import (
    ComponentsReceived,
    ComponentsRequested,
    HelpAnswered,
    HelpAwaitingRequester,
    PauseReason,
)

from monitoring.domain import Edge
from monitoring.sla import rules

FOREVER = datetime.max.replace(tzinfo=UTC)
# the one wait on sub-orders an order has (ComponentsRequested names no id its end repeats)
SUB_ORDERS_KEY = "sub-orders"
# the stages a reason stops, when the policy says it pauses them
AWAITING_REQUESTER_STAGES = frozenset({Stage.ACCEPTANCE, Stage.FULFILMENT})
BLOCKED_STAGES = frozenset({Stage.FULFILMENT})


@dataclass(frozen=True)
class PauseEdge:
    """One event starting or ending a wait: `key` pairs a start with its end (the help request
    for the requester, one key for the sub-orders)."""

    event_id: UUID
    reason: PauseReason
    key: str
    edge: Edge
    at: datetime


@dataclass(frozen=True)
class Pause:
    """A wait of an order, or of one of its stages once cut to the stage: from `paused_at` to
    `resumed_at` (None: still waiting). `paused_by` (the starting event) names it."""

    reason: PauseReason
    paused_at: datetime
    resumed_at: datetime | None
    paused_by: UUID
    resumed_by: UUID | None = None  # the event that ended it (None: open, or its stage ended)

    @property
    def open(self) -> bool:
        return self.resumed_at is None


@dataclass(frozen=True)
class PausedClock:
    """A running clock with its pauses taken out: its warning and deadline (None while it stands
    still before reaching them), the business seconds its closed pauses took off, and since
    when it stands still (None: it runs)."""

    warn_at: datetime | None
    deadline: datetime | None
    paused_s: float
    paused_since: datetime | None


def _help_request(event: Envelope) -> str:
    """The help request a question to the requester and its answer both name."""
    if not isinstance(event, HelpAwaitingRequester | HelpAnswered):
        raise TypeError(f"{event.event_type} names no help request")
    return str(event.help_event_id)


def _sub_orders(event: Envelope) -> str:
    return SUB_ORDERS_KEY


# event class → the wait it starts or ends: (reason, edge, the key pairing start and end)
_EDGE_OF: dict[type[Envelope], tuple[PauseReason, Edge, Callable[[Envelope], str]]] = {
    HelpAwaitingRequester: (PauseReason.AWAITING_REQUESTER, Edge.START, _help_request),
    HelpAnswered: (PauseReason.AWAITING_REQUESTER, Edge.END, _help_request),
    ComponentsRequested: (PauseReason.BLOCKED_ON_SUB_ORDERS, Edge.START, _sub_orders),
    ComponentsReceived: (PauseReason.BLOCKED_ON_SUB_ORDERS, Edge.END, _sub_orders),
}
PAUSE_EVENTS = tuple(_EDGE_OF)


def edge_of(event: Envelope) -> PauseEdge | None:
    """The start or end of a wait the event marks; None for any other event."""
    marks = _EDGE_OF.get(type(event))
    if marks is None:
        return None
    reason, edge, key_of = marks
    return PauseEdge(event.event_id, reason, key_of(event), edge, event.occurred_at)


def reasons_pausing(policy: SlaPolicy, stage: Stage) -> tuple[PauseReason, ...]:
    """The reasons that stop the stage's clock under the policy (none unless it says so)."""
    reasons: list[PauseReason] = []
    if policy.pause_when_awaiting_requester and stage in AWAITING_REQUESTER_STAGES:
        reasons.append(PauseReason.AWAITING_REQUESTER)
    if policy.pause_when_blocked and stage in BLOCKED_STAGES:
        reasons.append(PauseReason.BLOCKED_ON_SUB_ORDERS)
    return tuple(reasons)


def pause_intervals(edges: Iterable[PauseEdge]) -> list[Pause]:
    """An order's waits from its start and end events, in any order they were seen: per reason
    and key, by time, a start opens a wait and the next end closes it (a second start while
    open, or an end with nothing open, changes nothing). Sorted by start."""
    by_wait: dict[tuple[PauseReason, str], list[PauseEdge]] = {}
    for edge in edges:
        by_wait.setdefault((edge.reason, edge.key), []).append(edge)
    pauses: list[Pause] = []
    for (reason, _), waits in by_wait.items():
        opened: PauseEdge | None = None
        for edge in sorted(waits, key=lambda e: (e.at, e.edge is Edge.END, str(e.event_id))):
            if edge.edge is Edge.START and opened is None:
                opened = edge
            elif edge.edge is Edge.END and opened is not None:
                pauses.append(Pause(reason, opened.at, edge.at, opened.event_id, edge.event_id))
                opened = None
        if opened is not None:
            pauses.append(Pause(reason, opened.at, None, opened.event_id))
    return sorted(pauses, key=lambda p: (p.paused_at, str(p.paused_by)))


def stage_pauses(
    pauses: Iterable[Pause],
    reasons: Iterable[str],
    *,
    started_at: datetime,
    ended_at: datetime | None,
) -> list[Pause]:
    """The order's waits that stop this stage's clock, cut to the stage: one that began before
    the stage pauses it from its start, a stage that ends while paused ends its pause then."""
    stopping = set(reasons)
    end = ended_at or FOREVER
    cut: list[Pause] = []
    for pause in pauses:
        resumed = pause.resumed_at or FOREVER
        if pause.reason not in stopping or pause.paused_at >= end or resumed < started_at:
            continue
        resumed_at = min(resumed, end)
        cut.append(
            Pause(
                reason=pause.reason,
                paused_at=max(pause.paused_at, started_at),
                resumed_at=None if resumed_at == FOREVER else resumed_at,
                paused_by=pause.paused_by,
                resumed_by=pause.resumed_by if resumed <= end else None,
            )
        )
    return cut


def _stops(pauses: Iterable[Pause], after: datetime) -> list[tuple[datetime, datetime]]:
    """The union of the pauses from `after` on, as disjoint sorted spans (FOREVER: open)."""
    spans = sorted(
        (max(p.paused_at, after), p.resumed_at or FOREVER)
        for p in pauses
        if (p.resumed_at or FOREVER) > after
    )
    merged: list[tuple[datetime, datetime]] = []
    for begin, end in spans:
        if begin >= end:
            continue
        if merged and begin <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return merged


def paused_deadline(
    start: datetime, seconds: float, calendar: BusinessCalendar, pauses: Sequence[Pause]
) -> datetime | None:
    """The instant at which `seconds` of working time have passed since `start`, not counting
    the time the clock stood still; None when an open pause stops it before then."""
    stops = _stops(pauses, start.astimezone(UTC))
    remaining = timedelta(seconds=seconds)
    for opens, closes in rules.working_windows(start, calendar):
        cursor = opens
        for begin, end in stops:
            if end <= cursor or begin >= closes:
                continue
            if begin > cursor:
                if remaining <= begin - cursor:
                    return cursor + remaining
                remaining -= begin - cursor
            if end == FOREVER:
                return None
            cursor = min(max(cursor, end), closes)
        if cursor < closes:
            if remaining <= closes - cursor:
                return cursor + remaining
            remaining -= closes - cursor
    raise ValueError(f"a target of {seconds}s does not fit in {rules.MAX_CALENDAR_DAYS} days")


def paused_seconds(pauses: Sequence[Pause], calendar: BusinessCalendar) -> float:
    """Working time the closed pauses took off (overlaps once; open pauses not yet counted)."""
    closed = [p for p in pauses if not p.open]
    if not closed:
        return 0.0
    start = min(p.paused_at for p in closed)
    return sum(rules.business_seconds(begin, end, calendar) for begin, end in _stops(closed, start))


def paused_clock(
    *,
    started_at: datetime,
    target_s: float,
    warning_s: float,
    calendar: BusinessCalendar,
    pauses: Sequence[Pause],
) -> PausedClock:
    """The clock of a stage given its pauses (`stage_pauses`)."""
    open_since = [p.paused_at for p in pauses if p.open]
    return PausedClock(
        warn_at=paused_deadline(started_at, warning_s, calendar, pauses),
        deadline=paused_deadline(started_at, target_s, calendar, pauses),
        paused_s=paused_seconds(pauses, calendar),
        paused_since=min(open_since, default=None),
    )
