"""SQL of the monitoring service (its own schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.events import OrderParties

from monitoring.domain import Edge


async def record_event(conn: asyncpg.Connection, event: OrderParties, trace_id: str | None) -> None:
    await conn.execute(
        """INSERT INTO handoff_events (event_id, order_id, root_order_id, event_type, occurred_at,
               supplier, requester, trace_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (event_id) DO NOTHING""",
        event.event_id,
        event.order_id,
        event.root_order_id,
        event.event_type,
        event.occurred_at,
        event.supplier,
        event.requester,
        trace_id,
    )


async def record_order(
    conn: asyncpg.Connection,
    event: OrderParties,
    *,
    parent_order_id: UUID | None,
    priority: str,
    trace_id: str | None,
) -> None:
    await conn.execute(
        """INSERT INTO orders (order_id, root_order_id, parent_order_id, supplier, requester, priority, trace_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING""",
        event.order_id,
        event.root_order_id,
        parent_order_id,
        event.supplier,
        event.requester,
        priority,
        trace_id,
    )


async def mark_boundary(
    conn: asyncpg.Connection, event: OrderParties, stage: Stage, edge: Edge, trace_id: str | None
) -> asyncpg.Record:
    """Set the stage's start or end (the first one seen wins); returns the stage row."""
    column = "started_at" if edge is Edge.START else "ended_at"
    row: asyncpg.Record = await conn.fetchrow(
        f"""INSERT INTO stages (order_id, stage, root_order_id, supplier, requester, {column}, trace_id)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (order_id, stage) DO UPDATE
               SET {column} = COALESCE(stages.{column}, EXCLUDED.{column}),
                   trace_id = COALESCE(stages.trace_id, EXCLUDED.trace_id)
            RETURNING *""",
        event.order_id,
        stage.value,
        event.root_order_id,
        event.supplier,
        event.requester,
        event.occurred_at,
        trace_id,
    )
    return row


async def close_stage(
    conn: asyncpg.Connection, order_id: UUID, stage: Stage, duration: float
) -> bool:
    """Record the duration once; False when it was already recorded."""
    updated = await conn.fetchval(
        """UPDATE stages SET duration_s = $3 WHERE order_id = $1 AND stage = $2
           AND duration_s IS NULL RETURNING true""",
        order_id,
        stage.value,
        duration,
    )
    return bool(updated)


async def handoffs(conn: asyncpg.Connection, order_id: UUID) -> list[dict[str, Any]]:
    """Stages of the order and of every order in its sub-order tree."""
    rows = await conn.fetch(
        """WITH RECURSIVE tree AS (
               SELECT order_id, parent_order_id, 0 AS depth FROM orders WHERE order_id = $1
               UNION ALL
               SELECT o.order_id, o.parent_order_id, t.depth + 1
               FROM orders o JOIN tree t ON o.parent_order_id = t.order_id)
           SELECT s.*, t.parent_order_id, t.depth FROM stages s JOIN tree t USING (order_id)
           ORDER BY t.depth, s.started_at NULLS LAST, s.stage""",
        order_id,
    )
    return [dict(row) for row in rows]


async def order_exists(conn: asyncpg.Connection, order_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM orders WHERE order_id = $1", order_id))


def started(row: asyncpg.Record) -> datetime | None:
    value: datetime | None = row["started_at"]
    return value
