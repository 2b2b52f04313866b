"""Stages and handoffs (contract table of the architecture): pure rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from supplychain_contracts import (
    Envelope,
    InvoiceIssued,
    OrderAccepted,
    OrderBlocked,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Stage,
    WorkCancelled,
)

# What handoff_events keeps in columns (the envelope and the parties); `payload` holds the rest
# of an event, its attributes.
RECORDED_IN_COLUMNS = frozenset({*Envelope.model_fields, "supplier", "requester"})


class Edge(StrEnum):
    START = "start"
    END = "end"


class Outcome(StrEnum):
    """How a stage ended when its order ended before the stage's own ending event: the stage
    is closed with it, never judged met, and no breach is raised after it."""

    REJECTED = "rejected"  # the supplier rejected the order
    CANCELLED = "cancelled"  # the supplier settled a cancellation (WorkCancelled)
    BLOCKED = "blocked"  # a sub-order can no longer be delivered: the order never ships


# Events that end the order for good, and the outcome of the stages they close. OrderBlocked
# ends it: fulfilment has no way out of `blocked` but a cancellation (issue 22, item 5).
# OrderCancelled is only the request: it ends nothing.
ORDER_ENDINGS: dict[type[Envelope], Outcome] = {
    OrderRejected: Outcome.REJECTED,
    WorkCancelled: Outcome.CANCELLED,
    OrderBlocked: Outcome.BLOCKED,
}


# event class → the stage boundaries it marks
BOUNDARIES: dict[type[Envelope], tuple[tuple[Stage, Edge], ...]] = {
    OrderPlaced: ((Stage.ACCEPTANCE, Edge.START), (Stage.END_TO_END, Edge.START)),
    OrderAccepted: ((Stage.ACCEPTANCE, Edge.END), (Stage.FULFILMENT, Edge.START)),
    OrderRejected: ((Stage.ACCEPTANCE, Edge.END),),
    OrderShipped: ((Stage.FULFILMENT, Edge.END), (Stage.DELIVERY, Edge.START)),
    OrderDelivered: (
        (Stage.DELIVERY, Edge.END),
        (Stage.INVOICING, Edge.START),
        (Stage.END_TO_END, Edge.END),
    ),
    InvoiceIssued: ((Stage.INVOICING, Edge.END),),
}


# Events that carry the order's priority: OrderPlaced always, the fulfilment events that start
# a stage since issue 16 (item 9), so a stage's policy never depends on which topic came first.
CARRY_PRIORITY = (OrderPlaced, OrderAccepted, OrderShipped, OrderDelivered)


def carried_priority(event: Envelope) -> str | None:
    """The order's priority as the event carries it; None when it carries none (an event
    published before fulfilment copied it: then what was seen of the order tells)."""
    if isinstance(event, CARRY_PRIORITY) and event.priority is not None:
        return event.priority.value
    return None


def outcome_of(event_class: type[Envelope]) -> Outcome | None:
    """The outcome of the stages an event ends by ending its order; None for any other."""
    return ORDER_ENDINGS.get(event_class)


def may_meet_order_end(event_class: type[Envelope], marked: tuple[tuple[Stage, Edge], ...]) -> bool:
    """Whether the event may close stages at the order's end: an event that ends the order
    (ORDER_ENDINGS), or one that started a stage of an order that may have ended already."""
    return event_class in ORDER_ENDINGS or any(edge is Edge.START for _, edge in marked)


def boundaries(event_class: type[Envelope]) -> tuple[tuple[Stage, Edge], ...]:
    """The stage boundaries events of this class mark; none for any other event."""
    return BOUNDARIES.get(event_class, ())


def duration_seconds(started_at: datetime, ended_at: datetime) -> float:
    """Elapsed wall-clock time of a stage; a late or reordered event never gives a negative."""
    return max(0.0, (ended_at - started_at).total_seconds())
