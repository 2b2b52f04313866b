"""SQL of the operator console: reads of monitoring's own tables only, each showing its reader
what it may see (a `Visibility`, supplychain_kit.http.auth: a department the orders it is party to
and the chains below them, a reader of every order all of them)."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg
from supplychain_kit.http.auth import Visibility

# The heads of the chains a reader sees: the root orders for a reader of every order; for a
# department, each order it is party to whose parent it is not party to (the top of what it
# owes or waits on: the orders below it, as the handoffs read has it).
_ROOTS = "o.order_id = o.root_order_id"
_PARTY_TOPS = """$2::text IN (o.supplier, o.requester)
                 AND NOT coalesce($2::text IN (p.supplier, p.requester), false)"""


async def recent_chains(
    conn: asyncpg.Connection, *, limit: int, visible: Visibility
) -> list[dict[str, Any]]:
    """The newest chains the reader sees, each from its head order down: the events seen of
    the head, its sub-orders, running stages and breaches over the chain below it."""
    heads, args = (
        (_ROOTS, (limit,)) if visible.everything else (_PARTY_TOPS, (limit, visible.party))
    )
    rows = await conn.fetch(
        f"""WITH RECURSIVE heads AS (
               SELECT o.order_id, o.supplier, o.requester, o.priority, o.placed_at, o.trace_id
               FROM orders o LEFT JOIN orders p ON p.order_id = o.parent_order_id
               WHERE {heads}
               ORDER BY o.placed_at DESC NULLS LAST
               LIMIT $1),
           tree AS (
               SELECT order_id AS head, order_id FROM heads
               UNION ALL
               SELECT t.head, c.order_id FROM orders c JOIN tree t ON c.parent_order_id = t.order_id),
           -- each order's stages counted by its key (a join of the tree with every stage
           -- scanned the whole table, for a page of chains)
           chain AS (
               SELECT t.head,
                      count(DISTINCT t.order_id) FILTER (WHERE t.order_id <> t.head)
                          AS sub_orders,
                      sum(s.open_stages)::bigint AS open_stages,
                      sum(s.breaches)::bigint AS breaches
               FROM tree t CROSS JOIN LATERAL (
                   SELECT count(*) FILTER (WHERE started_at IS NOT NULL
                                             AND ended_at IS NULL) AS open_stages,
                          count(*) FILTER (WHERE (breach_raised_at IS NOT NULL
                                                  AND breach_retracted_at IS NULL)
                                              OR (outcome IS NULL
                                                  AND ended_at > deadline)) AS breaches
                   FROM stages WHERE stages.order_id = t.order_id) AS s
               GROUP BY t.head)
           SELECT h.*,
                  (SELECT coalesce(array_agg(DISTINCT e.event_type), '{{}}')
                     FROM handoff_events e WHERE e.order_id = h.order_id) AS event_types,
                  chain.sub_orders, chain.open_stages, chain.breaches
           FROM heads h JOIN chain ON chain.head = h.order_id
           ORDER BY h.placed_at DESC NULLS LAST""",
        *args,
    )
    return [dict(row) for row in rows]


async def open_stages(
    conn: asyncpg.Connection, *, limit: int, visible: Visibility
) -> list[dict[str, Any]]:
    """Running stages with a deadline of the orders the reader is party to (every order's for
    a reader of all), the nearest (or longest past) deadline first."""
    rows = await conn.fetch(
        f"""SELECT order_id, root_order_id, stage, supplier, requester, started_at, target_s,
                  warn_at, deadline
           FROM stages
           WHERE ended_at IS NULL AND started_at IS NOT NULL AND deadline IS NOT NULL
             AND {visible.where("supplier", "requester", param=2)}
           ORDER BY deadline
           LIMIT $1""",
        limit,
        visible.party,
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


async def chain_head(
    conn: asyncpg.Connection, order_id: Any, *, visible: Visibility
) -> asyncpg.Record | None:
    """The head of the chain an order shows in: its topmost recorded ancestor (or itself) the
    reader sees, with its trace and events seen; None when the reader is party to neither the
    order nor any order above it (as if it did not exist)."""
    record: asyncpg.Record | None = await conn.fetchrow(
        f"""WITH RECURSIVE up AS (
               SELECT order_id, parent_order_id, supplier, requester, 0 AS height
               FROM orders WHERE order_id = $1
               UNION ALL
               SELECT o.order_id, o.parent_order_id, o.supplier, o.requester, u.height + 1
               FROM orders o JOIN up u ON o.order_id = u.parent_order_id)
           SELECT h.order_id, h.trace_id,
                  (SELECT coalesce(array_agg(DISTINCT e.event_type), '{{}}')
                     FROM handoff_events e WHERE e.order_id = h.order_id) AS event_types
           FROM orders h
           WHERE h.order_id = (SELECT order_id FROM up
                               WHERE {visible.where("supplier", "requester", param=2)}
                               ORDER BY height DESC LIMIT 1)""",
        order_id,
        visible.party,
    )
    return record


async def chain_events(
    conn: asyncpg.Connection, head_order_id: Any, *, event_types: Collection[str]
) -> list[dict[str, Any]]:
    """The events of these types (cancellations, disputes) of the head order and the orders
    below it, in time order, with their parties and typed fields (`payload`)."""
    rows = await conn.fetch(
        """WITH RECURSIVE tree AS (
               SELECT order_id FROM orders WHERE order_id = $1
               UNION ALL
               SELECT c.order_id FROM orders c JOIN tree t ON c.parent_order_id = t.order_id)
           SELECT e.order_id, e.supplier, e.requester, e.event_type, e.occurred_at,
                  e.payload::text AS payload
           FROM tree t JOIN handoff_events e ON e.order_id = t.order_id
           WHERE e.event_type = ANY($2::text[])
           ORDER BY e.occurred_at, e.event_id""",
        head_order_id,
        list(event_types),
    )
    return [{**row, "payload": json.loads(row["payload"] or "{}")} for row in rows]
