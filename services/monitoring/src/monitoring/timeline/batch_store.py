"""SQL of the handoffs applied as sets: a statement per kind of effect for all the events of a
batch (the events recorded and their stage boundaries, clocks, paused clocks, closings), not
one per event."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar

from monitoring.domain import ORDER_ENDINGS, RECORDED_IN_COLUMNS, Outcome
from monitoring.sla.pauses import PausedClock, PauseEdge
from monitoring.sla.rules import Clock, StageRow
from monitoring.sla.store import stage_row
from monitoring.timeline.traced import Traced

ENDING_TYPES = [str(event.model_fields["event_type"].default) for event in ORDER_ENDINGS]
ENDING_OUTCOMES = [outcome.value for outcome in ORDER_ENDINGS.values()]


@dataclass
class Marks:
    """What a batch's events say of one stage, merged in their order as successive upserts
    would merge them: the first start, the first end (and its outcome), the first trace."""

    order_id: UUID
    stage: Stage
    root_order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    trace_id: str | None = None
    start_event_id: UUID | None = None
    traceparent: str | None = None
    end_event_id: UUID | None = None
    end_event_type: str | None = None
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Marked:
    """The stages a batch marked that the run acts on further (to time, to close, whose
    clock a pause may move, of an ended order) as they stand now, the reference token (None
    when there is no such stage), and the orders of those stages whose end
    (domain.ORDER_ENDINGS) was recorded before this batch."""

    stages: list[StageRow]
    reference_token: UUID | None
    ended_orders: set[UUID]


async def record_and_mark(
    conn: asyncpg.Connection,
    events: Sequence[Traced],
    marks: Sequence[Marks],
    clocks: Sequence[Clock | None],
    *,
    reference_token: UUID | None,
) -> Marked:
    """Record the events and upsert the stage boundaries they mark, in one statement. A stage
    this statement starts gets its clock from `clocks` (one per mark, computed from the
    policies read under `reference_token`) if that token is still the store's. Returns the
    marked stages the run acts on further (`Marked`)."""
    rows = await conn.fetch(
        """WITH recorded AS (
               INSERT INTO handoff_events (event_id, order_id, root_order_id, event_type,
                   occurred_at, supplier, requester, trace_id, payload)
               SELECT e.event_id, e.order_id, e.root_order_id, e.event_type, e.occurred_at,
                      e.supplier, e.requester, e.trace_id, e.payload::jsonb
               FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::timestamptz[],
                           $6::text[], $7::text[], $8::text[], $9::text[])
                    AS e(event_id, order_id, root_order_id, event_type, occurred_at, supplier,
                         requester, trace_id, payload)
               ON CONFLICT (event_id) DO NOTHING),
           marked AS (
               INSERT INTO stages AS s (order_id, stage, root_order_id, supplier, requester,
                   employee_id, started_at, ended_at, trace_id, start_event_id, traceparent,
                   end_event_id, end_event_type, outcome, policy_id, target_s, warn_at,
                   deadline, policy_key, policy_version, service_credit_pct, warning_s,
                   calendar, pause_reasons)
               SELECT m.order_id, m.stage, m.root_order_id, m.supplier, m.requester,
                      m.employee_id, m.started_at, m.ended_at, m.trace_id, m.start_event_id,
                      m.traceparent, m.end_event_id, m.end_event_type, m.outcome,
                      c.policy_id, c.target_s, c.warn_at, c.deadline, c.policy_key,
                      c.policy_version, c.credit, c.warning_s, c.calendar::jsonb,
                      COALESCE(ARRAY(SELECT jsonb_array_elements_text(c.reasons::jsonb)),
                               '{}'::text[])
               FROM unnest($10::uuid[], $11::text[], $12::uuid[], $13::text[],
                           $14::text[], $15::text[], $16::timestamptz[],
                           $17::timestamptz[], $18::text[], $19::uuid[], $20::text[],
                           $21::uuid[], $22::text[], $23::text[])
                    WITH ORDINALITY AS m(order_id, stage, root_order_id, supplier, requester,
                         employee_id, started_at, ended_at, trace_id, start_event_id,
                         traceparent, end_event_id, end_event_type, outcome, n)
               LEFT JOIN unnest($26::int[], $27::float8[], $28::timestamptz[],
                                $29::timestamptz[], $30::text[], $31::int[], $32::numeric[],
                                $33::float8[], $34::text[], $35::text[])
                    WITH ORDINALITY AS c(policy_id, target_s, warn_at, deadline, policy_key,
                         policy_version, credit, warning_s, calendar, reasons, n)
                    ON c.n = m.n AND c.policy_id IS NOT NULL
                       AND $25::uuid = (SELECT token FROM reference_token)
               ON CONFLICT (order_id, stage) DO UPDATE
                  SET started_at = COALESCE(s.started_at, EXCLUDED.started_at),
                      ended_at = COALESCE(s.ended_at, EXCLUDED.ended_at),
                      trace_id = COALESCE(s.trace_id, EXCLUDED.trace_id),
                      start_event_id = COALESCE(s.start_event_id, EXCLUDED.start_event_id),
                      traceparent = COALESCE(s.traceparent, EXCLUDED.traceparent),
                      end_event_id = COALESCE(s.end_event_id, EXCLUDED.end_event_id),
                      end_event_type = COALESCE(s.end_event_type, EXCLUDED.end_event_type),
                      outcome = CASE WHEN s.ended_at IS NULL
                                     THEN EXCLUDED.outcome ELSE s.outcome END,
                      -- the clock computed for the start, when this statement starts it
                      policy_id = CASE WHEN s.started_at IS NULL THEN EXCLUDED.policy_id ELSE s.policy_id END,
                      target_s = CASE WHEN s.started_at IS NULL THEN EXCLUDED.target_s ELSE s.target_s END,
                      warn_at = CASE WHEN s.started_at IS NULL THEN EXCLUDED.warn_at ELSE s.warn_at END,
                      deadline = CASE WHEN s.started_at IS NULL THEN EXCLUDED.deadline ELSE s.deadline END,
                      policy_key = CASE WHEN s.started_at IS NULL THEN EXCLUDED.policy_key ELSE s.policy_key END,
                      policy_version = CASE WHEN s.started_at IS NULL THEN EXCLUDED.policy_version ELSE s.policy_version END,
                      service_credit_pct = CASE WHEN s.started_at IS NULL THEN EXCLUDED.service_credit_pct ELSE s.service_credit_pct END,
                      warning_s = CASE WHEN s.started_at IS NULL THEN EXCLUDED.warning_s ELSE s.warning_s END,
                      calendar = CASE WHEN s.started_at IS NULL THEN EXCLUDED.calendar ELSE s.calendar END,
                      pause_reasons = CASE WHEN s.started_at IS NULL THEN EXCLUDED.pause_reasons ELSE s.pause_reasons END
               RETURNING s.*)
           SELECT m.*, (SELECT token FROM reference_token) AS reference_token, e.order_ended
           FROM marked m
           CROSS JOIN LATERAL (
               SELECT EXISTS (SELECT 1 FROM handoff_events h
                              WHERE h.order_id = m.order_id
                                AND h.event_type = ANY($24::text[])) AS order_ended) e
           -- the stages the rest of the run acts on (StageRow.needs_clock, can_close, a clock
           -- that pauses may move) and those of ended orders: most stages a run starts were
           -- timed by this statement and need nothing more
           WHERE e.order_ended
              OR (m.started_at IS NOT NULL AND m.deadline IS NULL AND m.policy_id IS NULL)
              OR (m.started_at IS NOT NULL AND m.ended_at IS NOT NULL
                  AND m.duration_s IS NULL)
              OR (cardinality(m.pause_reasons) > 0 AND m.duration_s IS NULL)""",
        [t.event.event_id for t in events],
        [t.event.order_id for t in events],
        [t.event.root_order_id for t in events],
        [t.event.event_type for t in events],
        [t.event.occurred_at for t in events],
        [t.event.supplier for t in events],
        [t.event.requester for t in events],
        [t.trace_id for t in events],
        [t.event.model_dump_json(exclude=set(RECORDED_IN_COLUMNS)) for t in events],
        [m.order_id for m in marks],
        [m.stage.value for m in marks],
        [m.root_order_id for m in marks],
        [m.supplier for m in marks],
        [m.requester for m in marks],
        [m.employee_id for m in marks],
        [m.started_at for m in marks],
        [m.ended_at for m in marks],
        [m.trace_id for m in marks],
        [m.start_event_id for m in marks],
        [m.traceparent for m in marks],
        [m.end_event_id for m in marks],
        [m.end_event_type for m in marks],
        [None if m.outcome is None else m.outcome.value for m in marks],
        ENDING_TYPES,
        reference_token,
        *_clock_columns(clocks),
    )
    return Marked(
        stages=[stage_row(row) for row in rows],
        reference_token=rows[0]["reference_token"] if rows else None,
        ended_orders={row["order_id"] for row in rows if row["order_ended"]},
    )


def _clock_columns(clocks: Sequence[Clock | None]) -> list[list[Any]]:
    """The clocks as the statements' arrays (a missing clock: NULLs)."""
    columns: list[list[Any]] = [[] for _ in range(10)]
    for clock in clocks:
        values: tuple[Any, ...] = (None,) * 10
        if clock is not None:
            values = (
                clock.policy_id,
                clock.target_seconds,
                clock.warn_at,
                clock.deadline,
                clock.policy_key,
                clock.policy_version,
                clock.service_credit_pct,
                clock.warning_seconds,
                None if clock.calendar is None else calendar_json(clock.calendar),
                json.dumps(list(clock.pause_reasons)),
            )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return columns


@functools.lru_cache(maxsize=256)
def calendar_json(calendar: BusinessCalendar) -> str:
    return calendar.model_dump_json()


async def set_clocks(
    conn: asyncpg.Connection, clocks: Sequence[tuple[UUID, Stage, Clock]]
) -> list[StageRow]:
    """Time the stages: the clock of the policy version in force when each started."""
    if not clocks:
        return []
    rows = await conn.fetch(
        """UPDATE stages s SET policy_id = c.policy_id, target_s = c.target_s,
               warn_at = c.warn_at, deadline = c.deadline, policy_key = c.policy_key,
               policy_version = c.policy_version, service_credit_pct = c.credit,
               warning_s = c.warning_s, calendar = c.calendar::jsonb,
               pause_reasons = ARRAY(SELECT jsonb_array_elements_text(c.reasons::jsonb))
           FROM unnest($1::uuid[], $2::text[], $3::int[], $4::float8[], $5::timestamptz[],
                       $6::timestamptz[], $7::text[], $8::int[], $9::numeric[], $10::float8[],
                       $11::text[], $12::text[])
                AS c(order_id, stage, policy_id, target_s, warn_at, deadline, policy_key,
                     policy_version, credit, warning_s, calendar, reasons)
           WHERE s.order_id = c.order_id AND s.stage = c.stage
           RETURNING s.*""",
        [order_id for order_id, _, _ in clocks],
        [stage.value for _, stage, _ in clocks],
        *_clock_columns([clock for _, _, clock in clocks]),
    )
    return [stage_row(row) for row in rows]


async def lock_orders_clocks(conn: asyncpg.Connection, order_ids: Sequence[UUID]) -> None:
    """One transaction at a time moves an order's clocks (a pause seen on one topic, the
    clock it stops set from another), to the commit: each sees what the other wrote. The
    orders are locked in a fixed order (no deadlock between overlapping batches)."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtextextended('monitoring:pauses:' || id::text, 0))
           FROM unnest($1::uuid[]) WITH ORDINALITY AS o(id, n) ORDER BY n""",
        sorted(set(order_ids)),
    )


async def record_pause_edges(
    conn: asyncpg.Connection, edges: Sequence[tuple[UUID, PauseEdge]]
) -> None:
    if not edges:
        return
    await conn.execute(
        """INSERT INTO pause_edges (event_id, order_id, reason, pause_key, edge, at)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[],
                                $6::timestamptz[])
           ON CONFLICT (event_id) DO NOTHING""",
        [edge.event_id for _, edge in edges],
        [order_id for order_id, _ in edges],
        [edge.reason.value for _, edge in edges],
        [edge.key for _, edge in edges],
        [edge.edge.value for _, edge in edges],
        [edge.at for _, edge in edges],
    )


async def pausable_stages(conn: asyncpg.Connection, order_ids: Sequence[UUID]) -> list[StageRow]:
    """The orders' running stages whose clock a pause can stop."""
    rows = await conn.fetch(
        """SELECT * FROM stages
           WHERE order_id = ANY($1::uuid[]) AND cardinality(pause_reasons) > 0
             AND duration_s IS NULL AND started_at IS NOT NULL AND target_s IS NOT NULL
           ORDER BY order_id, stage""",
        list(order_ids),
    )
    return [stage_row(row) for row in rows]


async def set_paused_clocks(
    conn: asyncpg.Connection, clocks: Sequence[tuple[UUID, Stage, PausedClock]]
) -> list[StageRow]:
    if not clocks:
        return []
    rows = await conn.fetch(
        """UPDATE stages s SET warn_at = c.warn_at, deadline = c.deadline,
               paused_s = c.paused_s, paused_since = c.paused_since
           FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::timestamptz[],
                       $5::float8[], $6::timestamptz[])
                AS c(order_id, stage, warn_at, deadline, paused_s, paused_since)
           WHERE s.order_id = c.order_id AND s.stage = c.stage
           RETURNING s.*""",
        [order_id for order_id, _, _ in clocks],
        [stage.value for _, stage, _ in clocks],
        [c.warn_at for _, _, c in clocks],
        [c.deadline for _, _, c in clocks],
        [c.paused_s for _, _, c in clocks],
        [c.paused_since for _, _, c in clocks],
    )
    return [stage_row(row) for row in rows]


async def close_stages(
    conn: asyncpg.Connection, durations: Sequence[tuple[UUID, Stage, float]]
) -> set[tuple[UUID, Stage]]:
    """Record the durations once; the stages whose duration was recorded now."""
    if not durations:
        return set()
    rows = await conn.fetch(
        """UPDATE stages s SET duration_s = d.duration_s
           FROM unnest($1::uuid[], $2::text[], $3::float8[]) AS d(order_id, stage, duration_s)
           WHERE s.order_id = d.order_id AND s.stage = d.stage AND s.duration_s IS NULL
           RETURNING s.order_id, s.stage""",
        [order_id for order_id, _, _ in durations],
        [stage.value for _, stage, _ in durations],
        [duration for _, _, duration in durations],
    )
    return {(row["order_id"], Stage(row["stage"])) for row in rows}


async def end_stages_at_order_end(
    conn: asyncpg.Connection, order_ids: Sequence[UUID]
) -> list[StageRow]:
    """Close the orders' running stages at their end (the first event recorded that ended
    each: domain.ORDER_ENDINGS; never before a stage began) with that end's outcome and
    event; the stages closed, none of an order that has not ended."""
    if not order_ids:
        return []
    rows = await conn.fetch(
        """UPDATE stages s SET ended_at = GREATEST(e.occurred_at, s.started_at),
                  outcome = ($3::text[])[array_position($2::text[], e.event_type)],
                  end_event_id = e.event_id, end_event_type = e.event_type
           FROM (SELECT DISTINCT ON (order_id) order_id, event_id, event_type, occurred_at
                 FROM handoff_events
                 WHERE order_id = ANY($1::uuid[]) AND event_type = ANY($2::text[])
                 ORDER BY order_id, occurred_at, event_id) e
           WHERE s.order_id = e.order_id AND s.started_at IS NOT NULL AND s.ended_at IS NULL
           RETURNING s.*""",
        sorted(set(order_ids)),
        ENDING_TYPES,
        ENDING_OUTCOMES,
    )
    return [stage_row(row) for row in rows]
