"""Consumed events: orders placed with (or cancelled at) a supplier department."""

from __future__ import annotations

import asyncpg
from supplychain_contracts import Envelope, OrderCancelled, OrderPlaced
from supplychain_kit.telemetry import current_trace_headers

from fulfilment import store
from fulfilment.domain import CANCELLABLE, WorkStatus


async def apply_event(conn: asyncpg.Connection, event: Envelope) -> None:
    if isinstance(event, OrderPlaced):
        await store.receive(conn, event, current_trace_headers())
    elif isinstance(event, OrderCancelled):
        found = await store.lock_item(conn, event.order_id)
        if found is not None and found[0].status in CANCELLABLE:
            await store.set_status(
                conn,
                event.order_id,
                WorkStatus.CANCELLED,
                event_id=event.event_id,
                reason=event.reason or "cancelled by the requester",
            )
