"""SQL of the handoff timelines: the events recorded, the orders and their stages (the service's
own schema; the pool's search_path names it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import FeedbackGiven, OrderPlaced
from supplychain_kit.http.auth import Visibility

# --- events, orders, stages ------------------------------------------------------------------


async def record_orders(
    conn: asyncpg.Connection, placed: Sequence[tuple[OrderPlaced, str | None]]
) -> None:
    """The orders of these placements (each with the trace it was consumed in)."""
    if not placed:
        return
    await conn.execute(
        """INSERT INTO orders (order_id, root_order_id, parent_order_id, supplier, requester,
               priority, trace_id, placed_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
                                $6::text[], $7::text[], $8::timestamptz[])
           ON CONFLICT (order_id) DO NOTHING""",
        [e.order_id for e, _ in placed],
        [e.root_order_id for e, _ in placed],
        [e.parent_order_id for e, _ in placed],
        [e.supplier for e, _ in placed],
        [e.requester for e, _ in placed],
        [e.priority.value for e, _ in placed],
        [trace_id for _, trace_id in placed],
        [e.occurred_at for e, _ in placed],
    )


async def order_priority(conn: asyncpg.Connection, order_id: UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT priority FROM orders WHERE order_id = $1", order_id
    )
    return value


async def record_feedback(conn: asyncpg.Connection, given: Sequence[FeedbackGiven]) -> None:
    if not given:
        return
    await conn.execute(
        """INSERT INTO feedback (event_id, order_id, supplier, requester, rating, occurred_at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int[],
                                $6::timestamptz[])
           ON CONFLICT (event_id) DO NOTHING""",
        [e.event_id for e in given],
        [e.order_id for e in given],
        [e.supplier for e in given],
        [e.requester for e in given],
        [e.rating for e in given],
        [e.occurred_at for e in given],
    )


# --- reads ---------------------------------------------------------------------------------


async def handoffs(conn: asyncpg.Connection, order_id: UUID) -> list[dict[str, Any]]:
    """Stages of the order and of every order in its sub-order tree."""
    rows = await conn.fetch(
        """WITH RECURSIVE tree AS (
               SELECT order_id, parent_order_id, 0 AS depth FROM orders WHERE order_id = $1
               UNION ALL
               SELECT o.order_id, o.parent_order_id, t.depth + 1
               FROM orders o JOIN tree t ON o.parent_order_id = t.order_id)
           SELECT s.*, t.parent_order_id, t.depth,
                  s.breach_raised_at IS NOT NULL AS breach_raised,
                  s.breach_retracted_at IS NOT NULL AS breach_retracted
           FROM stages s JOIN tree t USING (order_id)
           ORDER BY t.depth, s.started_at NULLS LAST, s.stage""",
        order_id,
    )
    return [dict(row) for row in rows]


async def order_visible(conn: asyncpg.Connection, order_id: UUID, *, visible: Visibility) -> bool:
    """Whether the order is recorded and the caller may read its handoffs (and its sub-order
    tree's): it is party to the order or to an order above it in its chain, each of which
    waits on it. Timings and SLA status only: prices stay with each order's own parties."""
    seen: bool = await conn.fetchval(
        f"""WITH RECURSIVE upstream AS (
               SELECT order_id, parent_order_id, supplier, requester
               FROM orders WHERE order_id = $1
               UNION ALL
               SELECT o.order_id, o.parent_order_id, o.supplier, o.requester
               FROM orders o JOIN upstream u ON o.order_id = u.parent_order_id)
           SELECT EXISTS (SELECT 1 FROM upstream u
                          WHERE {visible.where("u.supplier", "u.requester", param=2)})""",
        order_id,
        visible.party,
    )
    return seen


async def stage_results(conn: asyncpg.Connection, *, schema: str) -> list[dict[str, Any]]:
    """Every stage of a schema (the live one or a replay), for comparison."""
    rows = await conn.fetch(
        f"""SELECT order_id, stage, supplier, requester, started_at, ended_at, duration_s,
                   target_s, warn_at, deadline, trace_id, policy_key, policy_version,
                   paused_s, paused_since, outcome,
                   warning_raised_at IS NOT NULL AS warning_raised,
                   breach_raised_at IS NOT NULL AS breach_raised,
                   breach_retracted_at IS NOT NULL AS breach_retracted
            FROM "{schema}".stages ORDER BY order_id, stage"""
    )
    return [dict(row) for row in rows]


async def events_missing(
    conn: asyncpg.Connection, *, schema: str, from_schema: str
) -> list[asyncpg.Record]:
    """Events the schema `schema` (the live one) recorded that `from_schema` (a replay) did
    not: per order and event type, when the last of them happened (`latest`)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"""SELECT l.order_id, l.event_type, max(l.occurred_at) AS latest
            FROM "{schema}".handoff_events l
            WHERE NOT EXISTS (SELECT 1 FROM "{from_schema}".handoff_events r
                              WHERE r.event_id = l.event_id)
            GROUP BY l.order_id, l.event_type"""
    )
    return rows
