"""Consumed events of every topic: handoff timelines and their durations."""

from __future__ import annotations

import asyncpg
from supplychain_contracts import Envelope, OrderPlaced
from supplychain_contracts.events import OrderParties
from supplychain_kit import metrics
from supplychain_kit.telemetry import current_trace_id

from monitoring import domain, store


async def apply_event(conn: asyncpg.Connection, event: Envelope) -> None:
    if not isinstance(event, OrderParties):
        return
    trace_id = current_trace_id()
    await store.record_event(conn, event, trace_id)
    if isinstance(event, OrderPlaced):
        await store.record_order(
            conn,
            event,
            parent_order_id=event.parent_order_id,
            priority=event.priority.value,
            trace_id=trace_id,
        )
    for stage, edge in domain.boundaries(event.event_type):
        row = await store.mark_boundary(conn, event, stage, edge, trace_id)
        if row["started_at"] is None or row["ended_at"] is None or row["duration_s"] is not None:
            continue
        duration = domain.duration_seconds(row["started_at"], row["ended_at"])
        if await store.close_stage(conn, event.order_id, stage, duration):
            exemplar = {"trace_id": row["trace_id"]} if row["trace_id"] else None
            metrics.HANDOFF_DURATION.labels(
                stage=stage.value, supplier=row["supplier"], requester=row["requester"]
            ).observe(duration, exemplar=exemplar)
