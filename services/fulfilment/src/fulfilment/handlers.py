"""Consumed events: orders placed with (or cancelled at) a supplier department, the
fulfilment events of the sub-orders this service raised for components, and the catalogue
as its owner (order intake) defines it."""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from supplychain_contracts import Envelope, OrderCancelled, OrderDelivered, OrderPlaced
from supplychain_contracts.reference import CatalogueItemDefined
from supplychain_kit import outbox
from supplychain_kit.consumer import dispatch
from supplychain_kit.telemetry import current_trace_headers

from fulfilment import chain, store, work_signal
from fulfilment.domain import CANCELLABLE, WorkItem, WorkStatus


async def define_catalogue_item(conn: asyncpg.Connection, defined: CatalogueItemDefined) -> None:
    await store.save_catalogue_entry(
        conn, chain.catalogue_entry(defined), changed_at=defined.occurred_at
    )


async def receive(conn: asyncpg.Connection, placed: OrderPlaced) -> None:
    await store.receive(conn, placed, current_trace_headers())
    work_signal.work_changed()  # new work for the supplier (and its autopilot)


async def cancel(conn: asyncpg.Connection, event: OrderCancelled) -> None:
    """Cancel the work and, down the chain, the sub-orders that can still be stopped."""
    locked = await store.lock_item(conn, event.order_id)
    if locked is None or locked.item.status not in CANCELLABLE:
        return  # shipped goods are on their way: a late cancellation changes nothing
    item = locked.item
    reason = event.reason or "cancelled by the requester"
    await store.set_status(
        conn, item.order_id, WorkStatus.CANCELLED, event_id=event.event_id, reason=reason
    )
    compensations = chain.compensate(
        item, await store.sub_orders_of(conn, item.order_id, lock=True), cause=event
    )
    for compensation in compensations:
        await store.set_sub_order_status(
            conn, compensation.order_id, WorkStatus.CANCELLED, reason=compensation.reason
        )
    await outbox.append(conn, compensations)
    await record_sub_order_progress(conn, event)  # this order may itself be a sub-order


async def record_sub_order_progress(conn: asyncpg.Connection, event: Envelope) -> None:
    """A sub-order's own event updates its record on the parent; one that can no longer be
    delivered blocks the parent, the last one delivered tells it its components are in."""
    parent_order_id = await store.parent_of(conn, event.order_id)
    if parent_order_id is None:
        return  # not a sub-order raised by this service
    locked = await store.lock_item(conn, parent_order_id)  # parent first: the lock order of `ship`
    sub_order = await store.lock_sub_order(conn, event.order_id)
    if locked is None or sub_order is None:
        return
    parent = locked.item
    status = chain.sub_order_status_after(sub_order.status, chain.REPORTED_STATUS[type(event)])
    if status is None:
        return
    reason: str | None = getattr(event, "reason", None) or None
    await store.set_sub_order_status(conn, sub_order.order_id, status, reason=reason)
    work_signal.work_changed()  # a delivered component may let the parent ship
    blocked = chain.block_parent(
        parent, replace(sub_order, status=status), cause=event, reason=reason or status.value
    )
    if blocked is not None:
        await store.set_status(
            conn,
            parent.order_id,
            WorkStatus.BLOCKED,
            event_id=blocked.event_id,
            reason=blocked.reason,
        )
        await outbox.append(conn, [blocked])
    if isinstance(event, OrderDelivered):
        await _components_received(conn, parent, event)


async def _components_received(
    conn: asyncpg.Connection, parent: WorkItem, delivered: OrderDelivered
) -> None:
    """ComponentsReceived once the last sub-order is delivered. Exactly once: the sub-order
    reached delivered just now (a redelivered receipt returned above, as the inbox would
    already have dropped it), under the parent's lock, so two last deliveries cannot both see
    the others outstanding; its id is derived from the parent, so even a repeat would be one
    outbox row."""
    received = chain.components_received(
        parent, await store.sub_orders_of(conn, parent.order_id), delivered=delivered
    )
    if received is None:
        return
    # the parent's next event (WorkStarted, OrderShipped) follows from it, as after
    # ComponentsRequested; its status (and the autopilot's wait in it) does not change
    await store.set_last_event_id(conn, parent.order_id, received.event_id)
    await outbox.append(conn, [received])


# The subscriber: every event a sub-order reports moves its record on the parent; a
# cancellation first cancels the order itself (then reports, as the order may be a sub-order).
apply_event = dispatch(
    {
        **dict.fromkeys(chain.REPORTED_STATUS, record_sub_order_progress),
        OrderPlaced: receive,
        OrderCancelled: cancel,
        CatalogueItemDefined: define_catalogue_item,
    }
)
