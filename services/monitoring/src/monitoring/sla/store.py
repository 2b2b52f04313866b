"""SQL of the SLA clocks: a stage's pauses, its clock as the pauses move it, its alarms raised
and the clocks due (tables `stages` and `pause_edges` of the service's schema)."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar
from supplychain_contracts.events import PauseReason, SlaBreachRetracted, SlaClockEvent

from monitoring.domain import Edge, Outcome
from monitoring.sla.pauses import PauseEdge
from monitoring.sla.rules import Alarm, StageRow

ALARM_COLUMN = {Alarm.WARNING: "warning_raised_at", Alarm.BREACH: "breach_raised_at"}


@functools.lru_cache(maxsize=256)
def calendar_of(stored: str) -> BusinessCalendar:
    """A stage's calendar as stored (JSON): the clocks of a company count in a handful of
    calendars, each parsed once (a calendar is immutable)."""
    return BusinessCalendar.model_validate_json(stored)


def stage_row(record: asyncpg.Record) -> StageRow:
    """A stored stage as the SLA rules read it."""
    return StageRow(
        order_id=record["order_id"],
        stage=Stage(record["stage"]),
        root_order_id=record["root_order_id"],
        supplier=record["supplier"],
        requester=record["requester"],
        employee_id=record["employee_id"],
        started_at=record["started_at"],
        ended_at=record["ended_at"],
        duration_s=record["duration_s"],
        trace_id=record["trace_id"],
        start_event_id=record["start_event_id"],
        traceparent=record["traceparent"],
        policy_id=record["policy_id"],
        target_s=record["target_s"],
        policy_key=record["policy_key"],
        policy_version=record["policy_version"],
        service_credit_pct=record["service_credit_pct"],
        warn_at=record["warn_at"],
        deadline=record["deadline"],
        warning_raised_at=record["warning_raised_at"],
        breach_raised_at=record["breach_raised_at"],
        pause_reasons=tuple(record["pause_reasons"]),
        warning_s=record["warning_s"],
        calendar=None if record["calendar"] is None else calendar_of(record["calendar"]),
        paused_s=record["paused_s"],
        paused_since=record["paused_since"],
        outcome=None if record["outcome"] is None else Outcome(record["outcome"]),
        end_event_id=record["end_event_id"],
        end_event_type=record["end_event_type"],
        breach_retracted_at=record["breach_retracted_at"],
    )


# --- paused clocks ---------------------------------------------------------------------------


async def pause_edges(
    conn: asyncpg.Connection, order_ids: Sequence[UUID]
) -> dict[UUID, list[PauseEdge]]:
    """The start and end events of the orders' waits, per order."""
    rows = await conn.fetch(
        """SELECT order_id, event_id, reason, pause_key, edge, at FROM pause_edges
           WHERE order_id = ANY($1::uuid[]) ORDER BY at, event_id""",
        list(order_ids),
    )
    edges: dict[UUID, list[PauseEdge]] = {}
    for row in rows:
        edges.setdefault(row["order_id"], []).append(
            PauseEdge(
                event_id=row["event_id"],
                reason=PauseReason(row["reason"]),
                key=row["pause_key"],
                edge=Edge(row["edge"]),
                at=row["at"],
            )
        )
    return edges


async def new_pause_notices(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> set[UUID]:
    """Of these SlaPaused / SlaResumed ids, those not noticed before (now noticed)."""
    rows = await conn.fetch(
        """INSERT INTO pause_notices (event_id) SELECT unnest($1::uuid[])
           ON CONFLICT (event_id) DO NOTHING RETURNING event_id""",
        list(event_ids),
    )
    return {row["event_id"] for row in rows}


async def mark_raised(
    conn: asyncpg.Connection,
    *,
    order_id: UUID,
    stage: Stage,
    alarms: Sequence[Alarm],
    at: datetime,
) -> None:
    """Record that the alarms were raised (first time wins)."""
    for alarm in alarms:
        column = ALARM_COLUMN[alarm]
        await conn.execute(
            f"""UPDATE stages SET {column} = COALESCE({column}, $3)
                WHERE order_id = $1 AND stage = $2""",
            order_id,
            stage.value,
            at,
        )


async def mark_retracted(
    conn: asyncpg.Connection, *, order_id: UUID, stage: Stage, at: datetime
) -> None:
    """Record that the stage's breach was retracted (first time wins)."""
    await conn.execute(
        """UPDATE stages SET breach_retracted_at = COALESCE(breach_retracted_at, $3)
           WHERE order_id = $1 AND stage = $2""",
        order_id,
        stage.value,
        at,
    )


async def note_raised(conn: asyncpg.Connection, event: SlaClockEvent, alarm: Alarm) -> None:
    """An SLA event seen on the topic: its alarm was raised (the stage row may not exist yet
    when the replay reads the SLA topic before the order's own events)."""
    await _note(conn, event, ALARM_COLUMN[alarm])


async def note_retracted(conn: asyncpg.Connection, event: SlaBreachRetracted) -> None:
    """A retraction seen on the topic: the stage's breach was retracted (a replay learns it)."""
    await _note(conn, event, "breach_retracted_at")


async def _note(conn: asyncpg.Connection, event: SlaClockEvent, column: str) -> None:
    await conn.execute(
        f"""INSERT INTO stages (order_id, stage, root_order_id, supplier, requester, {column})
            VALUES ($1, $2, $3, $4, $5, $6)
            ON CONFLICT (order_id, stage) DO UPDATE
               SET {column} = COALESCE(stages.{column}, EXCLUDED.{column})""",
        event.order_id,
        event.stage.value,
        event.root_order_id,
        event.supplier,
        event.requester,
        event.occurred_at,
    )


async def claim_due_clocks(
    conn: asyncpg.Connection, *, cutoffs: Mapping[Stage, datetime], limit: int
) -> list[StageRow]:
    """Running stages with an alarm due (timed at or before its stage's cutoff:
    `watermarks.VerdictRule`), locked for this transaction. A paused clock stands still: its
    deadline is NULL while a pause stops it before reaching it, and it fires nothing until it
    resumes (an alarm carries its deadline); a deadline that fell before the pause began was
    missed all the same, and its alarms are due.

    SKIP LOCKED: another replica scanning at the same moment takes other rows, and a stage
    whose end event is being applied right now (row locked by the consumer) is left alone.
    """
    stages = list(cutoffs)
    rows = await conn.fetch(
        """SELECT s.* FROM stages s
           JOIN unnest($1::text[], $2::timestamptz[]) AS due(stage, cutoff)
             ON due.stage = s.stage
           WHERE s.ended_at IS NULL AND (s.paused_since IS NULL OR s.deadline IS NOT NULL)
             AND ((s.warning_raised_at IS NULL AND s.warn_at <= due.cutoff)
                  OR (s.breach_raised_at IS NULL AND s.deadline <= due.cutoff))
             -- the same by the latest cutoff, a constant: one scan of the partial indexes
             AND ((s.warning_raised_at IS NULL AND s.warn_at <= $3)
                  OR (s.breach_raised_at IS NULL AND s.deadline <= $3))
           ORDER BY s.deadline
           LIMIT $4
           FOR UPDATE OF s SKIP LOCKED""",
        [stage.value for stage in stages],
        [cutoffs[stage] for stage in stages],
        max(cutoffs.values()),
        limit,
    )
    return [stage_row(row) for row in rows]


async def next_alarm_at(conn: asyncpg.Connection) -> datetime | None:
    """The earliest time of an alarm not raised yet of a running clock (what
    `claim_due_clocks` could claim first): no alarm is due before it."""
    at: datetime | None = await conn.fetchval(
        """SELECT least(
             (SELECT min(warn_at) FROM stages
               WHERE ended_at IS NULL AND warning_raised_at IS NULL AND warn_at IS NOT NULL
                 AND (paused_since IS NULL OR deadline IS NOT NULL)),
             (SELECT min(deadline) FROM stages
               WHERE ended_at IS NULL AND breach_raised_at IS NULL AND deadline IS NOT NULL))"""
    )
    return at
