"""SQL of the handoff timelines: the events recorded, the orders and their stages (the service's
own schema; the pool's search_path names it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.events import OrderParties
from supplychain_kit.auth import Visibility

from monitoring.domain import RECORDED_IN_COLUMNS, Edge, Outcome
from monitoring.sla.rules import Clock, StageRow
from monitoring.sla.store import stage_row

# --- events, orders, stages ------------------------------------------------------------------


async def record_event(conn: asyncpg.Connection, event: OrderParties, trace_id: str | None) -> None:
    await conn.execute(
        """INSERT INTO handoff_events (event_id, order_id, root_order_id, event_type, occurred_at,
               supplier, requester, trace_id, payload)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
           ON CONFLICT (event_id) DO NOTHING""",
        event.event_id,
        event.order_id,
        event.root_order_id,
        event.event_type,
        event.occurred_at,
        event.supplier,
        event.requester,
        trace_id,
        event.model_dump_json(exclude=set(RECORDED_IN_COLUMNS)),
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
        """INSERT INTO orders (order_id, root_order_id, parent_order_id, supplier, requester,
               priority, trace_id, placed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (order_id) DO NOTHING""",
        event.order_id,
        event.root_order_id,
        parent_order_id,
        event.supplier,
        event.requester,
        priority,
        trace_id,
        event.occurred_at,
    )


async def order_priority(conn: asyncpg.Connection, order_id: UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT priority FROM orders WHERE order_id = $1", order_id
    )
    return value


async def record_feedback(conn: asyncpg.Connection, event: OrderParties, *, rating: int) -> None:
    await conn.execute(
        """INSERT INTO feedback (event_id, order_id, supplier, requester, rating, occurred_at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING""",
        event.event_id,
        event.order_id,
        event.supplier,
        event.requester,
        rating,
        event.occurred_at,
    )


async def mark_boundary(
    conn: asyncpg.Connection,
    event: OrderParties,
    stage: Stage,
    edge: Edge,
    *,
    trace_id: str | None,
    traceparent: str | None,
    outcome: Outcome | None = None,
) -> StageRow:
    """Set the stage's start or end (the first one seen wins); returns the stage row.

    The start event's id and traceparent are kept: the SLA events a clock raises later are
    caused by it and continue its trace. The end event's id and type are kept (a retraction
    names them), with the `outcome` of an end that also ended the order (a rejection).
    """
    column = "started_at" if edge is Edge.START else "ended_at"
    start_event_id = event.event_id if edge is Edge.START else None
    start_traceparent = traceparent if edge is Edge.START else None
    end_event_id = event.event_id if edge is Edge.END else None
    end_event_type = event.event_type if edge is Edge.END else None
    record = await conn.fetchrow(
        f"""INSERT INTO stages (order_id, stage, root_order_id, supplier, requester, employee_id,
                {column}, trace_id, start_event_id, traceparent, end_event_id, end_event_type,
                outcome)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            ON CONFLICT (order_id, stage) DO UPDATE
               SET {column} = COALESCE(stages.{column}, EXCLUDED.{column}),
                   trace_id = COALESCE(stages.trace_id, EXCLUDED.trace_id),
                   start_event_id = COALESCE(stages.start_event_id, EXCLUDED.start_event_id),
                   traceparent = COALESCE(stages.traceparent, EXCLUDED.traceparent),
                   end_event_id = COALESCE(stages.end_event_id, EXCLUDED.end_event_id),
                   end_event_type = COALESCE(stages.end_event_type, EXCLUDED.end_event_type),
                   outcome = CASE WHEN stages.ended_at IS NULL
                                  THEN EXCLUDED.outcome ELSE stages.outcome END
            RETURNING *""",
        event.order_id,
        stage.value,
        event.root_order_id,
        event.supplier,
        event.requester,
        event.employee_id,
        event.occurred_at,
        trace_id,
        start_event_id,
        start_traceparent,
        end_event_id,
        end_event_type,
        None if outcome is None else outcome.value,
    )
    return stage_row(record)


async def set_clock(
    conn: asyncpg.Connection, *, order_id: UUID, stage: Stage, clock: Clock
) -> StageRow:
    record = await conn.fetchrow(
        """UPDATE stages SET policy_id = $3, target_s = $4, warn_at = $5, deadline = $6,
               policy_key = $7, policy_version = $8, service_credit_pct = $9,
               warning_s = $10, calendar = $11::jsonb, pause_reasons = $12
           WHERE order_id = $1 AND stage = $2 RETURNING *""",
        order_id,
        stage.value,
        clock.policy_id,
        clock.target_seconds,
        clock.warn_at,
        clock.deadline,
        clock.policy_key,
        clock.policy_version,
        clock.service_credit_pct,
        clock.warning_seconds,
        None if clock.calendar is None else clock.calendar.model_dump_json(),
        list(clock.pause_reasons),
    )
    return stage_row(record)


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
