"""A sub-order's progress on its parent: every sub-order and every parent is fulfilment's own
data, so the state a sub-order reaches moves its record on the parent in the transaction that
moved it (no round trip through the broker).

Lock order, bottom-up: the sub-order's work item (locked by the command or handler that moved
it) → the parent's work item → the parent's record of the sub-order; a parent it blocks is in
turn a sub-order, so the grandparent's item and its record of the parent follow. No code locks
work items top-down: a command on an order locks its own item, then at most its records of
its own sub-orders (cancel, ship), never a sub-order's item. So a transaction waits only on
an item above the ones it holds, or on a record of a sub-order of an item it holds: no cycle.
"""

from __future__ import annotations

from dataclasses import replace

import asyncpg
from supplychain_kit.messaging import outbox

from fulfilment import chain, store, work_signal
from fulfilment.chain import Reported
from fulfilment.domain import WorkItem, WorkStatus


async def record(conn: asyncpg.Connection, reported: Reported) -> bool:
    """A sub-order reached `reported.status`: its record on the parent follows; one that can
    no longer be delivered blocks the parent (and so, up the chain, the parent's own parent),
    the last one delivered tells the parent its components are in. Call it with the
    sub-order's work item locked, in the transaction that moved it. False: nothing moved."""
    parent_order_id = await store.parent_of(conn, reported.order_id)
    if parent_order_id is None:
        return False  # not a sub-order raised by this service
    locked = await store.lock_item(conn, parent_order_id)
    sub_order = await store.lock_sub_order(conn, reported.order_id)
    if locked is None or sub_order is None:
        return False
    parent = locked.item
    status = chain.sub_order_status_after(sub_order.status, reported.status)
    if status is None:
        return False
    await store.set_sub_order_status(conn, sub_order.order_id, status, reason=reported.reason)
    work_signal.work_changed()  # a delivered component may let the parent ship
    blocked = chain.block_parent(
        parent,
        replace(sub_order, status=status),
        cause_id=reported.event_id,
        reason=reported.reason or status.value,
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
        await record(conn, chain.reported(blocked, WorkStatus.BLOCKED))  # its own parent's
    if status is WorkStatus.DELIVERED:
        await _components_received(conn, parent, reported)
    return True


async def _components_received(
    conn: asyncpg.Connection, parent: WorkItem, delivered: Reported
) -> None:
    """ComponentsReceived once the last sub-order is delivered. Exactly once: the sub-order
    reached delivered just now (delivered is final: a repeat moved nothing above), under the
    parent's lock, so two last deliveries cannot both see the others outstanding; its id is
    derived from the parent, so even a repeat would be one outbox row."""
    received = chain.components_received(
        parent,
        await store.sub_orders_of(conn, parent.order_id),
        delivered_id=delivered.order_id,
        cause_id=delivered.event_id,
    )
    if received is None:
        return
    # the parent's next event (WorkStarted, OrderShipped) follows from it, as after
    # ComponentsRequested; its status (and the autopilot's wait in it) does not change
    await store.set_last_event_id(conn, parent.order_id, received.event_id)
    await outbox.append(conn, [received])


async def catch_up(conn: asyncpg.Connection) -> int:
    """Bring forward every record of a sub-order behind the sub-order's own state, with the
    rule above, one transaction each; the number brought forward.

    A version that moved records from its own topic's events left behind those whose events
    it had not consumed when it stopped: run at start, this moves them from the sub-order's
    work item (its status, last event and reason). Once caught up, nothing is behind.
    """
    moved = 0
    for order_id in await store.sub_orders_behind(conn):
        async with conn.transaction():
            reported = await store.lock_reported(conn, order_id)  # the sub-order's item first
            if reported is not None and await record(conn, reported):
                moved += 1
    return moved
