"""SQL of the monitoring service (its own schema; the pool's search_path names it)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import Stage
from supplychain_contracts.company import BusinessCalendar, NamedCalendar, SlaPolicy
from supplychain_contracts.events import OrderParties, PauseReason, SlaClockEvent

from monitoring.domain import RECORDED_IN_COLUMNS, Edge
from monitoring.pauses import PausedClock, PauseEdge
from monitoring.sla import Alarm, Clock, StageRow
from monitoring.versions import Change, Version

ALARM_COLUMN = {Alarm.WARNING: "warning_raised_at", Alarm.BREACH: "breach_raised_at"}


@dataclass(frozen=True)
class ChangeRecord:
    """A stored line of an entity's history (the entity as JSON before and after)."""

    version: int
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- reference data: policy and calendar versions, their history ---------------------------


async def lock_reference_data(conn: asyncpg.Connection) -> None:
    """One definition at a time (replicas loading at start, admin changes), to the commit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('monitoring:reference'))")


def _policy_version(record: asyncpg.Record) -> Version[SlaPolicy]:
    return Version(
        key=record["policy_key"],
        number=record["policy_number"],
        version=record["version"],
        effective_from=record["effective_from"],
        active=record["active"],
        content=SlaPolicy.model_validate_json(record["policy"]),
        changed_by=record["changed_by"],
        changed_at=record["changed_at"],
    )


def _calendar_version(record: asyncpg.Record) -> Version[NamedCalendar]:
    return Version(
        key=record["code"],
        number=record["calendar_number"],
        version=record["version"],
        effective_from=record["effective_from"],
        active=record["active"],
        content=NamedCalendar.model_validate_json(record["calendar"]),
        changed_by=record["changed_by"],
        changed_at=record["changed_at"],
    )


_POLICY_COLUMNS = """policy_key, version, policy_number, effective_from, active, policy::text,
    changed_by, changed_at"""
_CALENDAR_COLUMNS = """code, version, calendar_number, effective_from, active, calendar::text,
    changed_by, changed_at"""


async def policy_versions(
    conn: asyncpg.Connection, *, supplier: str | None = None, key: str | None = None
) -> list[Version[SlaPolicy]]:
    """Every version of the policies that are (or were, in any version) of the supplier, or
    of one policy; all of them without either."""
    rows = await conn.fetch(
        f"""SELECT {_POLICY_COLUMNS} FROM sla_policy_versions
            WHERE ($1::text IS NULL OR policy_key IN (
                      SELECT policy_key FROM sla_policy_versions WHERE supplier = $1))
              AND ($2::text IS NULL OR policy_key = $2)
            ORDER BY policy_number, version""",
        supplier,
        key,
    )
    return [_policy_version(row) for row in rows]


async def calendar_versions(
    conn: asyncpg.Connection, *, code: str | None = None
) -> list[Version[NamedCalendar]]:
    """Every version of one calendar, or of all of them."""
    rows = await conn.fetch(
        f"""SELECT {_CALENDAR_COLUMNS} FROM calendar_versions
            WHERE $1::text IS NULL OR code = $1 ORDER BY calendar_number, version""",
        code,
    )
    return [_calendar_version(row) for row in rows]


async def next_policy_number(conn: asyncpg.Connection) -> int:
    number: int = await conn.fetchval(
        "SELECT COALESCE(max(policy_number), 0) + 1 FROM sla_policy_versions"
    )
    return number


async def next_calendar_number(conn: asyncpg.Connection) -> int:
    number: int = await conn.fetchval(
        "SELECT COALESCE(max(calendar_number), 0) + 1 FROM calendar_versions"
    )
    return number


async def add_policy_version(conn: asyncpg.Connection, version: Version[SlaPolicy]) -> None:
    await conn.execute(
        """INSERT INTO sla_policy_versions (policy_key, version, policy_number, effective_from,
               active, supplier, policy, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)""",
        version.key,
        version.version,
        version.number,
        version.effective_from,
        version.active,
        version.content.supplier,
        version.content.model_dump_json(),
        version.changed_by,
        version.changed_at,
    )


async def add_calendar_version(conn: asyncpg.Connection, version: Version[NamedCalendar]) -> None:
    await conn.execute(
        """INSERT INTO calendar_versions (code, version, calendar_number, effective_from, active,
               calendar, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)""",
        version.key,
        version.version,
        version.number,
        version.effective_from,
        version.active,
        version.content.model_dump_json(),
        version.changed_by,
        version.changed_at,
    )


async def file_policies(conn: asyncpg.Connection) -> dict[str, SlaPolicy]:
    """What the last company file said of each policy (those it had)."""
    rows = await conn.fetch(
        "SELECT policy_key, policy::text FROM sla_policy_file_definitions ORDER BY policy_key"
    )
    return {row["policy_key"]: SlaPolicy.model_validate_json(row["policy"]) for row in rows}


async def file_calendars(conn: asyncpg.Connection) -> dict[str, NamedCalendar]:
    """What the last company file said of each calendar (those it had)."""
    rows = await conn.fetch(
        "SELECT code, calendar::text FROM calendar_file_definitions ORDER BY code"
    )
    return {row["code"]: NamedCalendar.model_validate_json(row["calendar"]) for row in rows}


async def set_file_policy(conn: asyncpg.Connection, key: str, policy: SlaPolicy | None) -> None:
    """Keep what the company file says of a policy (None: it is not in the file)."""
    if policy is None:
        await conn.execute("DELETE FROM sla_policy_file_definitions WHERE policy_key = $1", key)
        return
    await conn.execute(
        """INSERT INTO sla_policy_file_definitions (policy_key, policy) VALUES ($1, $2::jsonb)
           ON CONFLICT (policy_key) DO UPDATE SET policy = EXCLUDED.policy""",
        key,
        policy.model_dump_json(),
    )


async def set_file_calendar(
    conn: asyncpg.Connection, code: str, calendar: NamedCalendar | None
) -> None:
    """Keep what the company file says of a calendar (None: it is not in the file)."""
    if calendar is None:
        await conn.execute("DELETE FROM calendar_file_definitions WHERE code = $1", code)
        return
    await conn.execute(
        """INSERT INTO calendar_file_definitions (code, calendar) VALUES ($1, $2::jsonb)
           ON CONFLICT (code) DO UPDATE SET calendar = EXCLUDED.calendar""",
        code,
        calendar.model_dump_json(),
    )


async def record_change(
    conn: asyncpg.Connection, entity_key: str, change: Change[SlaPolicy] | Change[NamedCalendar]
) -> None:
    await conn.execute(
        """INSERT INTO reference_changes (entity_key, version, changed_by, changed_at, before,
               after)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)""",
        entity_key,
        change.version,
        change.changed_by,
        change.changed_at,
        None if change.before is None else change.before.model_dump_json(),
        None if change.after is None else change.after.model_dump_json(),
    )


async def changes(conn: asyncpg.Connection, entity_key: str) -> list[ChangeRecord]:
    """The history of one entity, oldest first; before and after as stored (JSON)."""
    rows = await conn.fetch(
        """SELECT version, changed_by, changed_at, before::text, after::text
           FROM reference_changes WHERE entity_key = $1 ORDER BY change_id""",
        entity_key,
    )
    return [
        ChangeRecord(
            version=row["version"],
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
            before=None if row["before"] is None else json.loads(row["before"]),
            after=None if row["after"] is None else json.loads(row["after"]),
        )
        for row in rows
    ]


async def copy_reference_data(conn: asyncpg.Connection, *, from_schema: str) -> None:
    """The policy and calendar versions of another schema (the live one, into a replay's)."""
    for table in ("sla_policy_versions", "calendar_versions"):
        await conn.execute(f'INSERT INTO {table} SELECT * FROM "{from_schema}".{table}')


def _stage_row(record: asyncpg.Record) -> StageRow:
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
        calendar=(
            None
            if record["calendar"] is None
            else BusinessCalendar.model_validate_json(record["calendar"])
        ),
        paused_s=record["paused_s"],
        paused_since=record["paused_since"],
    )


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
) -> StageRow:
    """Set the stage's start or end (the first one seen wins); returns the stage row.

    The start event's id and traceparent are kept: the SLA events a clock raises later are
    caused by it and continue its trace.
    """
    column = "started_at" if edge is Edge.START else "ended_at"
    start_event_id = event.event_id if edge is Edge.START else None
    start_traceparent = traceparent if edge is Edge.START else None
    record = await conn.fetchrow(
        f"""INSERT INTO stages (order_id, stage, root_order_id, supplier, requester, employee_id,
                {column}, trace_id, start_event_id, traceparent)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
            ON CONFLICT (order_id, stage) DO UPDATE
               SET {column} = COALESCE(stages.{column}, EXCLUDED.{column}),
                   trace_id = COALESCE(stages.trace_id, EXCLUDED.trace_id),
                   start_event_id = COALESCE(stages.start_event_id, EXCLUDED.start_event_id),
                   traceparent = COALESCE(stages.traceparent, EXCLUDED.traceparent)
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
    )
    return _stage_row(record)


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
    return _stage_row(record)


# --- paused clocks ---------------------------------------------------------------------------


async def lock_order_clocks(conn: asyncpg.Connection, order_id: UUID) -> None:
    """One transaction at a time moves an order's clocks (a pause seen on one topic, the
    clock it stops set from another), to the commit: each sees what the other wrote."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('monitoring:pauses:' || $1::uuid::text, 0))",
        order_id,
    )


async def record_pause_edge(conn: asyncpg.Connection, order_id: UUID, edge: PauseEdge) -> None:
    await conn.execute(
        """INSERT INTO pause_edges (event_id, order_id, reason, pause_key, edge, at)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING""",
        edge.event_id,
        order_id,
        edge.reason.value,
        edge.key,
        edge.edge.value,
        edge.at,
    )


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


async def pausable_stages(conn: asyncpg.Connection, order_id: UUID) -> list[StageRow]:
    """The order's running stages whose clock a pause can stop."""
    rows = await conn.fetch(
        """SELECT * FROM stages
           WHERE order_id = $1 AND cardinality(pause_reasons) > 0 AND duration_s IS NULL
             AND started_at IS NOT NULL AND target_s IS NOT NULL
           ORDER BY stage""",
        order_id,
    )
    return [_stage_row(row) for row in rows]


async def set_paused_clock(
    conn: asyncpg.Connection, *, order_id: UUID, stage: Stage, clock: PausedClock
) -> StageRow:
    record = await conn.fetchrow(
        """UPDATE stages SET warn_at = $3, deadline = $4, paused_s = $5, paused_since = $6
           WHERE order_id = $1 AND stage = $2 RETURNING *""",
        order_id,
        stage.value,
        clock.warn_at,
        clock.deadline,
        clock.paused_s,
        clock.paused_since,
    )
    return _stage_row(record)


async def new_pause_notices(conn: asyncpg.Connection, event_ids: Sequence[UUID]) -> set[UUID]:
    """Of these SlaPaused / SlaResumed ids, those not noticed before (now noticed)."""
    rows = await conn.fetch(
        """INSERT INTO pause_notices (event_id) SELECT unnest($1::uuid[])
           ON CONFLICT (event_id) DO NOTHING RETURNING event_id""",
        list(event_ids),
    )
    return {row["event_id"] for row in rows}


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


async def end_stages_at_cancellation(conn: asyncpg.Connection, order_id: UUID) -> list[StageRow]:
    """End the order's running stages when its work was cancelled (its first WorkCancelled
    recorded; never before a stage began); the stages ended, none if it was not cancelled."""
    rows = await conn.fetch(
        """UPDATE stages s SET ended_at = GREATEST(c.at, s.started_at)
           FROM (SELECT min(occurred_at) AS at FROM handoff_events
                 WHERE order_id = $1 AND event_type = 'WorkCancelled') c
           WHERE s.order_id = $1 AND c.at IS NOT NULL
             AND s.started_at IS NOT NULL AND s.ended_at IS NULL
           RETURNING s.*""",
        order_id,
    )
    return [_stage_row(row) for row in rows]


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


async def note_raised(conn: asyncpg.Connection, event: SlaClockEvent, alarm: Alarm) -> None:
    """An SLA event seen on the topic: its alarm was raised (the stage row may not exist yet
    when the replay reads the SLA topic before the order's own events)."""
    column = ALARM_COLUMN[alarm]
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
    conn: asyncpg.Connection, *, now: datetime, limit: int
) -> list[StageRow]:
    """Running stages with an alarm due, locked for this transaction. A paused clock stands
    still: its deadline is NULL while a pause stops it before reaching it, and it fires nothing
    until it resumes (an alarm carries its deadline); a deadline that fell before the pause
    began was missed all the same, and its alarms are due.

    SKIP LOCKED: another replica scanning at the same moment takes other rows, and a stage
    whose end event is being applied right now (row locked by the consumer) is left alone.
    """
    rows = await conn.fetch(
        """SELECT * FROM stages
           WHERE ended_at IS NULL AND (paused_since IS NULL OR deadline IS NOT NULL)
             AND ((warning_raised_at IS NULL AND warn_at <= $1)
                  OR (breach_raised_at IS NULL AND deadline <= $1))
           ORDER BY deadline
           LIMIT $2
           FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [_stage_row(row) for row in rows]


# --- reads ---------------------------------------------------------------------------------


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


async def stage_results(conn: asyncpg.Connection, *, schema: str) -> list[dict[str, Any]]:
    """Every stage of a schema (the live one or a replay), for comparison."""
    rows = await conn.fetch(
        f"""SELECT order_id, stage, supplier, requester, started_at, ended_at, duration_s,
                   target_s, warn_at, deadline, trace_id, policy_key, policy_version,
                   paused_s, paused_since,
                   warning_raised_at IS NOT NULL AS warning_raised,
                   breach_raised_at IS NOT NULL AS breach_raised
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


# --- scorecards ----------------------------------------------------------------------------


async def orders_handled(
    conn: asyncpg.Connection, *, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT supplier, count(*) AS n FROM orders
           WHERE placed_at >= $1 AND placed_at < $2 GROUP BY supplier""",
        start,
        end,
    )
    return {row["supplier"]: row["n"] for row in rows}


async def stage_outcomes(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, now: datetime
) -> list[asyncpg.Record]:
    """Per supplier and stage, of the timed stages started in the period: met and breached
    (closed late, or still running past the deadline)."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT supplier, stage,
                  count(*) FILTER (WHERE ended_at IS NOT NULL AND ended_at <= deadline) AS met,
                  count(*) FILTER (WHERE (ended_at IS NOT NULL AND ended_at > deadline)
                                      OR (ended_at IS NULL AND deadline <= $3)) AS breached
           FROM stages
           WHERE deadline IS NOT NULL AND started_at >= $1 AND started_at < $2
           GROUP BY supplier, stage""",
        start,
        end,
        now,
    )
    return rows


async def event_counts(
    conn: asyncpg.Connection, *, event_type: str, start: datetime, end: datetime
) -> dict[str, int]:
    rows = await conn.fetch(
        """SELECT supplier, count(*) AS n FROM handoff_events
           WHERE event_type = $1 AND occurred_at >= $2 AND occurred_at < $3
           GROUP BY supplier""",
        event_type,
        start,
        end,
    )
    return {row["supplier"]: row["n"] for row in rows}


async def satisfaction(
    conn: asyncpg.Connection, *, start: datetime, end: datetime
) -> dict[str, tuple[float, int]]:
    """Average rating and number of ratings per supplier."""
    rows = await conn.fetch(
        """SELECT supplier, avg(rating)::float8 AS average, count(*) AS n FROM feedback
           WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY supplier""",
        start,
        end,
    )
    return {row["supplier"]: (row["average"], row["n"]) for row in rows}
