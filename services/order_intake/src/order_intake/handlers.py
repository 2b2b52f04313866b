"""Consumed events: keep the order read model (status, timeline, cancellations) up to date,
and record the sub-orders fulfilment raises, charged to their requesters' budgets."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from supplychain_contracts import (
    CancellationRefused,
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
    OrderPlaced,
    OrderRejected,
    OrderShipped,
    WorkCancelled,
    WorkStarted,
)
from supplychain_kit.messaging import effects
from supplychain_kit.messaging.dispatch import Batched, dispatch

from order_intake import metrics, store
from order_intake.domain import (
    PRODUCER,
    CancellationStatus,
    over_budget,
    overrun_message,
    statuses_after,
    translated_event_total,
)

# How fulfilment settles a cancellation request.
SETTLEMENTS: dict[type[Envelope], CancellationStatus] = {
    WorkCancelled: CancellationStatus.CANCELLED,
    CancellationRefused: CancellationStatus.REFUSED,
}


async def record_handoffs(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """Suppliers' and invoicing's events on our orders enter their timelines and move their
    statuses (domain.STATUS_AFTER_EVENT), for a run of a fetched batch at once: the orders
    locked in one statement, the timeline written in one, the statuses in one. A settled
    cancellation is recorded on the order (WorkCancelled also cancels it, which releases its
    budget). A handoff of a sub-order whose OrderPlaced has not arrived yet (another topic)
    is kept on its timeline: the sub-order starts from it when it is recorded."""
    await store.add_timeline_entries(conn, events)
    order_ids = {event.order_id for event in events}
    current = await store.lock_statuses(conn, order_ids)
    if unrecorded := order_ids - current.keys():
        # a sub-order recorded meanwhile (not committed when we looked) must not miss these
        await store.lock_order_records(conn, unrecorded)
        current |= await store.lock_statuses(conn, unrecorded)
    ours = [event for event in events if event.order_id in current]
    if not ours:
        return
    changed = statuses_after(current, ours)
    if changed:
        await store.set_statuses(conn, changed)
    settled = {
        event.order_id: (SETTLEMENTS[type(event)], event)
        for event in ours
        if type(event) in SETTLEMENTS
    }
    if settled:
        await store.settle_cancellations(conn, settled)


async def record_sub_order(conn: asyncpg.Connection, event: OrderPlaced) -> None:
    """A sub-order fulfilment raised for a component: recorded once (readable like any order)
    and charged to its requester's budget (the department that raised it) at the rate the
    event carries. Over budget it is flagged, never refused: a chain never stops half-way.
    Our own OrderPlaced (root orders) is already recorded."""
    if event.producer == PRODUCER or event.parent_order_id is None:
        return
    await store.lock_order_records(conn, [event.order_id])
    translation = translated_event_total(event)
    budget = await store.department_budget(conn, event.requester)
    committed = await store.lock_spending(
        conn, department=event.requester, employee_id=None, at=event.occurred_at
    )
    total = translation.requester_total
    over = budget is not None and over_budget(budget, committed_this_month=committed, total=total)
    warnings = (
        (overrun_message(budget, committed_this_month=committed, total=total),)
        if over and budget is not None
        else ()
    )
    recorded = await store.record_sub_order(
        conn, order=event, translation=translation, over_budget=over, warnings=warnings
    )
    if recorded and over:
        department = event.requester
        effects.after_commit(lambda: metrics.BUDGET_OVERRUNS.labels(department=department).inc())


# The subscriber: every fulfilment and invoicing event of an order is a handoff on its
# timeline; a sub-order's OrderPlaced (orders topic) records it; other events are ignored.
apply_event = dispatch(
    {
        **dict.fromkeys(
            (
                OrderAccepted,
                OrderRejected,
                WorkStarted,
                ComponentsRequested,
                ComponentsReceived,
                OrderShipped,
                OrderDelivered,
                WorkCancelled,
                CancellationRefused,
                OrderBlocked,
                FeedbackGiven,
                HelpRequested,
                HelpAwaitingRequester,
                HelpAnswered,
                InvoiceIssued,
                CreditNoteIssued,
            ),
            Batched(record_handoffs),
        ),
        OrderPlaced: record_sub_order,
    }
)
