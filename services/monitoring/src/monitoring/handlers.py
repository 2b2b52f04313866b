"""Consumed events of every topic: handoff timelines, stage durations and SLA clocks."""

from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
from supplychain_contracts import Envelope, FeedbackGiven, OrderPlaced, Stage
from supplychain_contracts.events import OrderParties, SlaBreached, SlaClockEvent, SlaWarning
from supplychain_kit import metrics
from supplychain_kit.consumer import ApplyEvent
from supplychain_kit.effects import after_commit
from supplychain_kit.telemetry import current_trace_headers, current_trace_id

from monitoring import clocks, domain, sla, store

SCHEMA = "monitoring"


def event_applier(*, emit: bool, schema: str = SCHEMA) -> ApplyEvent:
    """The effect of one event. `emit=False` (replay) rebuilds the same state without writing
    SLA events to the outbox or counting metrics."""

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
        elif isinstance(event, FeedbackGiven):
            await store.record_feedback(conn, event, rating=event.rating)
        elif isinstance(event, SlaWarning | SlaBreached):
            await _note_raised(conn, event)
        traceparent = current_trace_headers().get("traceparent")
        for stage, edge in domain.boundaries(event.event_type):
            row = await store.mark_boundary(
                conn, event, stage, edge, trace_id=trace_id, traceparent=traceparent
            )
            if (
                row["started_at"] is not None
                and row["deadline"] is None
                and row["policy_id"] is None
            ):
                row = await _start_clock(conn, event, stage, row)
            if row["started_at"] is not None and row["ended_at"] is not None:
                await _close(conn, stage, row, emit=emit)

    return apply_event


async def _start_clock(
    conn: asyncpg.Connection, event: OrderParties, stage: Stage, row: asyncpg.Record
) -> asyncpg.Record:
    priority = (
        event.priority.value
        if isinstance(event, OrderPlaced)
        else await store.order_priority(conn, event.order_id)
    )
    found = sla.policy_for(
        await store.policies(conn, supplier=event.supplier),
        supplier=event.supplier,
        requester=event.requester,
        priority=priority,
    )
    clock = sla.clock_for(*found, stage, row["started_at"]) if found else None
    if clock is None:
        return row
    return await store.set_clock(conn, order_id=event.order_id, stage=stage, clock=clock)


async def _close(
    conn: asyncpg.Connection, stage: Stage, row: asyncpg.Record, *, emit: bool
) -> None:
    """Record the real duration once; a stage that ended after its deadline is breached, and
    if its clock had not fired yet (events arrived late) the alarms are raised now."""
    if row["duration_s"] is not None:
        return
    duration = domain.duration_seconds(row["started_at"], row["ended_at"])
    if not await store.close_stage(conn, row["order_id"], stage, duration):
        return
    late_alarms = sla.due_alarms(
        warn_at=row["warn_at"],
        deadline=row["deadline"],
        warning_raised=row["warning_raised_at"] is not None,
        breach_raised=row["breach_raised_at"] is not None,
        now=row["ended_at"],
    )
    if sla.Alarm.BREACH in late_alarms:
        await clocks.raise_alarms(conn, row, late_alarms, now=datetime.now(UTC), emit=emit)
        if emit:
            after_commit(lambda: clocks.count_alarms(row, late_alarms))
    if emit:
        exemplar = {"trace_id": row["trace_id"]} if row["trace_id"] else None
        histogram = metrics.HANDOFF_DURATION.labels(
            stage=stage.value, supplier=row["supplier"], requester=row["requester"]
        )
        after_commit(lambda: histogram.observe(duration, exemplar=exemplar))


async def _note_raised(conn: asyncpg.Connection, event: SlaClockEvent) -> None:
    """An SLA event on the topic says its alarm was raised: a replay learns it from here."""
    alarm = sla.Alarm.WARNING if isinstance(event, SlaWarning) else sla.Alarm.BREACH
    await store.note_raised(conn, event, alarm)


apply_event: ApplyEvent = event_applier(emit=True)
