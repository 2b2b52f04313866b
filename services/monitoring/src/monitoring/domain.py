"""Stages and handoffs (contract table of the architecture): pure rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from supplychain_contracts import (
    Envelope,
    InvoiceIssued,
    OrderAccepted,
    OrderDelivered,
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    Stage,
)


class Edge(StrEnum):
    START = "start"
    END = "end"


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


def boundaries(event_class: type[Envelope]) -> tuple[tuple[Stage, Edge], ...]:
    """The stage boundaries events of this class mark; none for any other event."""
    return BOUNDARIES.get(event_class, ())


def duration_seconds(started_at: datetime, ended_at: datetime) -> float:
    """Elapsed wall-clock time of a stage; a late or reordered event never gives a negative."""
    return max(0.0, (ended_at - started_at).total_seconds())
