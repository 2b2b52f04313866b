"""Consumed events: keep the order read model (status, timeline) up to date."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    CreditNoteIssued,
    Envelope,
    FeedbackGiven,
    HelpAnswered,
    HelpAwaitingRequester,
    HelpRequested,
    InvoiceIssued,
    OrderAccepted,
    OrderBlocked,
    OrderDelivered,
    OrderRejected,
    OrderShipped,
    WorkStarted,
)
from supplychain_kit.consumer import Batched, dispatch

from order_intake import store
from order_intake.domain import statuses_after


async def record_handoffs(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """Suppliers' and invoicing's events on our orders enter their timelines and move their
    statuses (domain.STATUS_AFTER_EVENT), for a run of a fetched batch at once: the orders
    locked in one statement, the timeline written in one, the statuses in one. Events of
    orders placed elsewhere (sub-orders raised by fulfilment) are not ours."""
    current = await store.lock_statuses(conn, {event.order_id for event in events})
    ours = [event for event in events if event.order_id in current]
    if not ours:
        return
    await store.add_timeline_entries(conn, ours)
    changed = statuses_after(current, ours)
    if changed:
        await store.set_statuses(conn, changed)


# The subscriber: every fulfilment and invoicing event of an order is a handoff on its
# timeline; other events are ignored.
apply_event = dispatch(
    dict.fromkeys(
        (
            OrderAccepted,
            OrderRejected,
            WorkStarted,
            ComponentsRequested,
            ComponentsReceived,
            OrderShipped,
            OrderDelivered,
            OrderBlocked,
            FeedbackGiven,
            HelpRequested,
            HelpAwaitingRequester,
            HelpAnswered,
            InvoiceIssued,
            CreditNoteIssued,
        ),
        Batched(record_handoffs),
    )
)
