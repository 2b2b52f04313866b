"""Consumed events: keep the order read model (status, timeline) up to date."""

from __future__ import annotations

import asyncpg
from supplychain_contracts import Envelope

from order_intake import store
from order_intake.domain import OrderStatus, next_status


async def apply_event(conn: asyncpg.Connection, event: Envelope) -> None:
    order = await conn.fetchrow(
        "SELECT status FROM orders WHERE order_id = $1 FOR UPDATE", event.order_id
    )
    if order is None:
        return  # an order placed elsewhere (a sub-order raised by fulfilment)
    await store.add_timeline(
        conn,
        event_id=event.event_id,
        order_id=event.order_id,
        event_type=event.event_type,
        occurred_at=event.occurred_at,
        detail=getattr(event, "reason", None),
    )
    current = OrderStatus(order["status"])
    new = next_status(current, event.event_type)
    if new != current:
        await store.set_status(conn, event.order_id, new)
