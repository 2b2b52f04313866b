"""Consumed events: keep the order read model (status, timeline) up to date."""

from __future__ import annotations

import asyncpg
from supplychain_contracts import (
    ComponentsRequested,
    CreditNoteIssued,
    Envelope,
    FeedbackGiven,
    HelpRequested,
    InvoiceIssued,
    OrderAccepted,
    OrderBlocked,
    OrderDelivered,
    OrderRejected,
    OrderShipped,
    WorkStarted,
)
from supplychain_kit.consumer import dispatch

from order_intake import store
from order_intake.domain import next_status


async def record_handoff(conn: asyncpg.Connection, event: Envelope) -> None:
    """A supplier's or invoicing's event on one of our orders enters its timeline and moves
    its status (domain.STATUS_AFTER_EVENT)."""
    current = await store.lock_status(conn, event.order_id)
    if current is None:
        return  # an order placed elsewhere (a sub-order raised by fulfilment)
    await store.add_timeline(
        conn,
        event_id=event.event_id,
        order_id=event.order_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        detail=getattr(event, "reason", None),
    )
    new = next_status(current, type(event))
    if new != current:
        await store.set_status(conn, event.order_id, new)


# The subscriber: every fulfilment and invoicing event of an order is a handoff on its
# timeline; other events are ignored.
apply_event = dispatch(
    dict.fromkeys(
        (
            OrderAccepted,
            OrderRejected,
            WorkStarted,
            ComponentsRequested,
            OrderShipped,
            OrderDelivered,
            OrderBlocked,
            FeedbackGiven,
            HelpRequested,
            InvoiceIssued,
            CreditNoteIssued,
        ),
        record_handoff,
    )
)
