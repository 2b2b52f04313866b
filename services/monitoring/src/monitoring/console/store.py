"""SQL of the operator console: reads of monitoring's own tables only."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg


async def recent_chains(conn: asyncpg.Connection, *, limit: int) -> list[dict[str, Any]]:
    """The newest root orders with the events seen of them, their sub-orders, running
    stages and breaches over the whole chain."""
    rows = await conn.fetch(
        """SELECT o.order_id, o.supplier, o.requester, o.priority, o.placed_at, o.trace_id,
                  (SELECT coalesce(array_agg(DISTINCT e.event_type), '{}')
                     FROM handoff_events e WHERE e.order_id = o.order_id) AS event_types,
                  chain.sub_orders, chain.open_stages, chain.breaches
           FROM orders o
           CROSS JOIN LATERAL (
               SELECT count(DISTINCT c.order_id) FILTER (WHERE c.order_id <> o.order_id)
                          AS sub_orders,
                      count(s.stage) FILTER (WHERE s.started_at IS NOT NULL
                                                AND s.ended_at IS NULL) AS open_stages,
                      count(s.stage) FILTER (WHERE (s.breach_raised_at IS NOT NULL
                                                    AND s.breach_retracted_at IS NULL)
                                                OR (s.outcome IS NULL
                                                    AND s.ended_at > s.deadline)) AS breaches
               FROM orders c LEFT JOIN stages s ON s.order_id = c.order_id
               WHERE c.root_order_id = o.order_id) AS chain
           WHERE o.order_id = o.root_order_id
           ORDER BY o.placed_at DESC NULLS LAST
           LIMIT $1""",
        limit,
    )
    return [dict(row) for row in rows]


async def open_stages(conn: asyncpg.Connection, *, limit: int) -> list[dict[str, Any]]:
    """Running stages with a deadline, the nearest (or longest past) deadline first."""
    rows = await conn.fetch(
        """SELECT order_id, root_order_id, stage, supplier, requester, started_at, target_s,
                  warn_at, deadline
           FROM stages
           WHERE ended_at IS NULL AND started_at IS NOT NULL AND deadline IS NOT NULL
           ORDER BY deadline
           LIMIT $1""",
        limit,
    )
    return [dict(row) for row in rows]


async def alarms_since(conn: asyncpg.Connection, *, since: datetime) -> list[dict[str, Any]]:
    """Warnings and breaches raised since `since`, per supplier and stage: the breaches
    standing, and those retracted since."""
    rows = await conn.fetch(
        """SELECT supplier, stage,
                  count(*) FILTER (WHERE warning_raised_at >= $1) AS warnings,
                  count(*) FILTER (WHERE breach_raised_at >= $1
                                     AND breach_retracted_at IS NULL) AS breaches,
                  count(*) FILTER (WHERE breach_retracted_at >= $1) AS breaches_retracted
           FROM stages
           WHERE warning_raised_at >= $1 OR breach_raised_at >= $1
              OR breach_retracted_at >= $1
           GROUP BY supplier, stage
           ORDER BY breaches DESC, warnings DESC, supplier, stage""",
        since,
    )
    return [dict(row) for row in rows]


async def root_of(conn: asyncpg.Connection, order_id: Any) -> asyncpg.Record | None:
    """The chain an order belongs to: its root order's id, trace and events seen."""
    record: asyncpg.Record | None = await conn.fetchrow(
        """SELECT r.order_id, r.trace_id,
                  (SELECT coalesce(array_agg(DISTINCT e.event_type), '{}')
                     FROM handoff_events e WHERE e.order_id = r.order_id) AS event_types
           FROM orders o JOIN orders r ON r.order_id = o.root_order_id
           WHERE o.order_id = $1""",
        order_id,
    )
    return record


async def chain_events(
    conn: asyncpg.Connection, root_order_id: Any, *, event_types: Collection[str]
) -> list[dict[str, Any]]:
    """The chain's events of these types (cancellations, disputes), in time order, with
    their typed fields (`payload`)."""
    rows = await conn.fetch(
        """SELECT e.order_id, e.event_type, e.occurred_at, e.payload::text AS payload
           FROM orders o JOIN handoff_events e ON e.order_id = o.order_id
           WHERE o.root_order_id = $1 AND e.event_type = ANY($2::text[])
           ORDER BY e.occurred_at, e.event_id""",
        root_order_id,
        list(event_types),
    )
    return [{**row, "payload": json.loads(row["payload"] or "{}")} for row in rows]
