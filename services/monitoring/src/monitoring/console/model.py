"""What the operator console shows, and the pure rules that shape it (a chain's state from
the events seen, the waterfall's geometry, time left before a breach)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel
from supplychain_kit.http.auth import EVERY_ROW, Principal, Visibility, visible_to

from monitoring.api import HandoffStage
from monitoring.sla import rules as sla


@dataclass(frozen=True)
class Audience:
    """Whom the console shows its view to, and so what it shows (issue 23).

    With a department's key: the chains below the orders it is party to, the running stages
    and open disputes it is party to, with the reasons people wrote of those; company-wide
    aggregates (alarm counts, scorecards, dead-letter counts, lag) name no order. With an
    analyst's, operator's or admin's key: every chain, without the texts people wrote (no
    employee ids are shown to anyone). Opened without a key (local and test only): all."""

    visibility: Visibility
    free_text: bool

    def shows_text(self, *parties: str | None) -> bool:
        """Whether a text people wrote about an order of these parties is shown."""
        return self.free_text and self.visibility.admits(*parties)


KEYLESS = Audience(EVERY_ROW, free_text=True)


def audience_of(principal: Principal) -> Audience:
    if principal.is_department:
        return Audience(visible_to(principal), free_text=True)
    return Audience(EVERY_ROW, free_text=False)


# The state a chain's root order is in, from the events seen of it: the first that applies.
# A cancellation is settled by fulfilment: WorkCancelled (the work stopped) cancels the order;
# the request (OrderCancelled) and a refusal (CancellationRefused) leave its state as it is.
CHAIN_STATES: tuple[tuple[str, str], ...] = (
    ("WorkCancelled", "cancelled"),
    ("OrderRejected", "rejected"),
    ("InvoiceIssued", "invoiced"),
    ("OrderDelivered", "delivered"),
    ("OrderBlocked", "blocked"),
    ("OrderShipped", "shipped"),
    ("ComponentsRequested", "waiting for components"),
    ("WorkStarted", "in progress"),
    ("OrderAccepted", "accepted"),
    ("OrderPlaced", "placed"),
)
FINISHED = frozenset({"cancelled", "rejected", "invoiced"})


CANCELLATION_REQUESTED = "cancellation requested"
SETTLES_CANCELLATION = frozenset({"WorkCancelled", "CancellationRefused"})


def chain_state(event_types: Iterable[str]) -> str:
    """The root order's state; `cancellation requested` while a request of an order not
    finished yet waits for fulfilment to settle it."""
    seen = set(event_types)
    state = next((state for event, state in CHAIN_STATES if event in seen), "seen")
    pending = "OrderCancelled" in seen and not seen & SETTLES_CANCELLATION
    if pending and state not in FINISHED | {"delivered"}:
        return CANCELLATION_REQUESTED
    return state


# What a chain's timeline notes beside its handoffs: cancellations and disputes.
NOTED_EVENTS: dict[str, str] = {
    "OrderCancelled": "cancellation requested",
    "WorkCancelled": "work cancelled",
    "CancellationRefused": "cancellation refused",
    "DisputeOpened": "dispute opened",
    "DisputeEscalated": "dispute escalated",
    "DisputeSettled": "dispute",  # + its outcome
}


class TimelineNote(BaseModel):
    order_id: UUID
    event_type: str
    occurred_at: datetime
    label: str
    reason: str


def timeline_note(row: dict[str, object], *, audience: Audience) -> TimelineNote:
    """A noted event of the chain as the console says it (a settled dispute by its outcome);
    its reason only where the audience may read it."""
    payload = row["payload"] if isinstance(row["payload"], dict) else {}
    event_type = str(row["event_type"])
    label = NOTED_EVENTS.get(event_type, event_type)
    if event_type == "DisputeSettled":
        label = f"dispute {payload.get('outcome', 'settled')}"
    return TimelineNote(
        order_id=row["order_id"],
        event_type=event_type,
        occurred_at=row["occurred_at"],
        label=label,
        reason=str(payload.get("reason") or "")
        if audience.shows_text(_text(row.get("supplier")), _text(row.get("requester")))
        else "",
    )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


class Chain(BaseModel):
    order_id: UUID
    supplier: str
    requester: str
    priority: str
    placed_at: datetime | None
    state: str
    sub_orders: int
    open_stages: int
    breaches: int
    trace_id: str | None
    cancellation_refused: bool = False


class OpenStage(BaseModel):
    order_id: UUID
    root_order_id: UUID
    stage: str
    supplier: str
    requester: str
    started_at: datetime
    target_s: float | None
    warn_at: datetime | None
    deadline: datetime
    seconds_to_breach: float  # negative: breached that long ago
    status: sla.Status


class AlarmCount(BaseModel):
    supplier: str
    stage: str
    warnings: int
    breaches: int  # raised and standing (not retracted)
    breaches_retracted: int = 0  # raised, then retracted by a late ending event


class SlaBoard(BaseModel):
    open_stages: list[OpenStage]
    warnings_today: int
    breaches_today: int
    alarms_today: list[AlarmCount]
    breaches_retracted_today: int = 0
    # warnings and breaches past their time held back until monitoring has read the topics
    # that could end their stages that far, and how far behind it knows them (None: unknown)
    verdicts_held: int = 0
    verdicts_behind_s: float | None = None


class GroupTopicLag(BaseModel):
    group: str
    topic: str
    records: int
    seconds: float
    measured_at: datetime


class ServiceLag(BaseModel):
    """A consumer group (a service) over all the topics it reads: the records it has not
    consumed and the age of the oldest of them."""

    group: str
    records: int
    seconds: float


def service_lags(lags: Iterable[GroupTopicLag]) -> list[ServiceLag]:
    """One line per consumer group, by group."""
    groups: dict[str, ServiceLag] = {}
    for lag in lags:
        seen = groups.get(lag.group, ServiceLag(group=lag.group, records=0, seconds=0.0))
        groups[lag.group] = ServiceLag(
            group=lag.group,
            records=seen.records + lag.records,
            seconds=max(seen.seconds, lag.seconds),
        )
    return [groups[group] for group in sorted(groups)]


class SupplierScore(BaseModel):
    supplier: str
    orders_handled: int
    on_time_pct: dict[str, float | None]
    rejected: int
    breaches: int
    average_satisfaction: float | None
    help_requests: int
    cancelled: int = 0  # stages closed by a settled cancellation
    blocked: int = 0  # stages closed by a block
    breaches_retracted: int = 0


class OpenDispute(BaseModel):
    """A dispute of an invoice not settled yet, as monitoring learnt it from invoicing."""

    dispute_id: UUID
    invoice_id: UUID
    order_id: UUID
    supplier: str
    requester: str
    amount: str | None  # a decimal string, never a float
    currency: str | None
    reason: str | None
    status: Literal["open", "escalated"]
    opened_at: datetime | None
    age_s: float | None


def open_dispute(row: dict[str, object], *, now: datetime, audience: Audience) -> OpenDispute:
    """Escalated once invoicing said so; its age since it was opened; its reason only where
    the audience may read it."""
    opened = row["opened_at"] if isinstance(row["opened_at"], datetime) else None
    shown = audience.shows_text(_text(row.get("supplier")), _text(row.get("requester")))
    return OpenDispute.model_validate(
        {
            **row,
            "reason": row.get("reason") if shown else None,
            "status": "escalated" if row["escalated_at"] is not None else "open",
            "age_s": None if opened is None else round(seconds_between(opened, now), 1),
        }
    )


class Overview(BaseModel):
    generated_at: datetime
    chains: list[Chain]
    sla: SlaBoard
    period: str
    scorecards: list[SupplierScore]
    dead_letters: dict[str, int] | None  # None: the broker was not reachable
    lag: list[GroupTopicLag]
    disputes: list[OpenDispute] = []
    service_lag: list[ServiceLag] = []


class WaterfallBar(HandoffStage):
    """A stage of the chain as the handoffs API tells it, with where its bar falls on the
    chart: in % of the chart's width (the chain's first start to its last instant)."""

    left_pct: float
    width_pct: float
    target_pct: float | None  # where the target ends, if it falls within the chart
    deadline_pct: float | None


class Waterfall(BaseModel):
    root_order_id: UUID
    state: str
    starts_at: datetime | None
    span_s: float
    trace_id: str | None
    trace_url: str | None
    bars: list[WaterfallBar]
    notes: list[TimelineNote] = []


def seconds_between(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds()


def seconds_to_breach(deadline: datetime, now: datetime) -> float:
    return round(seconds_between(now, deadline), 1)


def _pct(offset_s: float, span_s: float) -> float:
    return round(max(0.0, min(100.0, 100 * offset_s / span_s)), 2)


# An order's rows: its whole span first, then its handoffs in the order they happen.
STAGE_ROWS = ("end_to_end", "acceptance", "fulfilment", "delivery", "invoicing")


def tree_order(rows: Sequence[dict[str, object]]) -> list[dict[str, object]]:
    """The rows order by order, depth first (an order, then each of its sub-orders with
    theirs, the earliest started first), each order's stages in STAGE_ROWS order."""
    by_order: dict[object, list[dict[str, object]]] = {}
    for row in rows:
        by_order.setdefault(row["order_id"], []).append(row)

    def first_start(order_id: object) -> datetime:
        starts = [
            r["started_at"] for r in by_order[order_id] if isinstance(r["started_at"], datetime)
        ]
        return min(starts) if starts else datetime.max.replace(tzinfo=UTC)

    children: dict[object, list[object]] = {}
    roots: list[object] = []
    for order_id, order_rows in by_order.items():
        parent = order_rows[0]["parent_order_id"]
        (children.setdefault(parent, []) if parent in by_order else roots).append(order_id)
    ordered: list[dict[str, object]] = []
    pending = sorted(roots, key=first_start, reverse=True)
    while pending:
        order_id = pending.pop()
        ordered += sorted(
            by_order[order_id],
            key=lambda r: STAGE_ROWS.index(str(r["stage"])) if r["stage"] in STAGE_ROWS else 99,
        )
        pending += sorted(children.get(order_id, []), key=first_start, reverse=True)
    return ordered


def waterfall_bars(
    rows: Sequence[dict[str, object]], *, now: datetime
) -> tuple[float, list[WaterfallBar]]:
    """The chart's span (seconds) and a bar per stage: from its start to its end (or now while
    it runs); target and deadline markers where they fall inside the span."""
    started = [row["started_at"] for row in rows if isinstance(row["started_at"], datetime)]
    if not started:
        return 0.0, [_bar(row, now=now, origin=None, span_s=0.0) for row in tree_order(rows)]
    origin = min(started)
    last = max(
        [row["ended_at"] for row in rows if isinstance(row["ended_at"], datetime)]
        + [now if any(row["ended_at"] is None for row in rows) else origin]
    )
    span_s = max(seconds_between(origin, last), 1.0)
    return span_s, [_bar(row, now=now, origin=origin, span_s=span_s) for row in tree_order(rows)]


def _bar(
    row: dict[str, object], *, now: datetime, origin: datetime | None, span_s: float
) -> WaterfallBar:
    started = row["started_at"] if isinstance(row["started_at"], datetime) else None
    ended = row["ended_at"] if isinstance(row["ended_at"], datetime) else None
    deadline = row["deadline"] if isinstance(row["deadline"], datetime) else None
    target = row["target_s"] if isinstance(row["target_s"], int | float) else None
    left = width = 0.0
    target_pct = deadline_pct = None
    if origin is not None and started is not None:
        start_s = seconds_between(origin, started)
        left = _pct(start_s, span_s)
        width = max(0.4, _pct(start_s + seconds_between(started, ended or now), span_s) - left)
        if target is not None and start_s + target <= span_s:
            target_pct = _pct(start_s + target, span_s)
        if deadline is not None and seconds_between(origin, deadline) <= span_s:
            deadline_pct = _pct(seconds_between(origin, deadline), span_s)
    return WaterfallBar.of_row(
        row,
        now=now,
        left_pct=left,
        width_pct=width,
        target_pct=target_pct,
        deadline_pct=deadline_pct,
    )


def trace_url(tracing_ui_url: str | None, trace_id: str | None) -> str | None:
    """The chain's trace in Jaeger's UI, when one is configured."""
    if not tracing_ui_url or not trace_id:
        return None
    return f"{tracing_ui_url.rstrip('/')}/trace/{trace_id}"
