"""Consumed events of every topic: handoff timelines, stage durations and SLA clocks."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from uuid import UUID

import asyncpg
from supplychain_contracts import (
    DisputeEscalated,
    DisputeOpened,
    DisputeSettled,
    FeedbackGiven,
    OrderPlaced,
    SlaBreachRetracted,
)
from supplychain_contracts.events import OrderParties, SlaClockEvent
from supplychain_kit.consumer import ApplyEvent, dispatch
from supplychain_kit.telemetry import current_trace_headers, current_trace_id

from monitoring import domain
from monitoring.reference import store as reference_store
from monitoring.sla import alarms, pauses
from monitoring.sla import rules as sla
from monitoring.sla import store as clock_store
from monitoring.sla.rules import StageRow
from monitoring.timeline import clocks, dispute_store, store
from monitoring.timeline.sinks import AlarmSink


def event_applier(sink: AlarmSink) -> ApplyEvent:
    """The effect of one event; raised alarms and closed stages go to `sink` (the outbox and
    metrics live, nowhere in a replay)."""
    timelines = Timelines(sink)
    return dispatch(
        {
            OrderPlaced: timelines.order_placed,
            FeedbackGiven: timelines.feedback_given,
            SlaClockEvent: timelines.alarm_seen,
            SlaBreachRetracted: timelines.retraction_seen,
            DisputeOpened: timelines.dispute_opened,
            DisputeEscalated: timelines.dispute_escalated,
            DisputeSettled: timelines.dispute_settled,
            **{event: timelines.pause_edge for event in pauses.PAUSE_EVENTS},
            OrderParties: timelines.handoff,
        }
    )


@dataclass(frozen=True)
class Timelines:
    """Every order event lands on its order's timeline and may start or end stages."""

    sink: AlarmSink

    async def order_placed(self, conn: asyncpg.Connection, event: OrderPlaced) -> None:
        await store.record_order(
            conn,
            event,
            parent_order_id=event.parent_order_id,
            priority=event.priority.value,
            trace_id=current_trace_id(),
        )
        await self.handoff(conn, event)

    async def feedback_given(self, conn: asyncpg.Connection, event: FeedbackGiven) -> None:
        await store.record_feedback(conn, event, rating=event.rating)
        await self.handoff(conn, event)

    async def alarm_seen(self, conn: asyncpg.Connection, event: SlaClockEvent) -> None:
        """An SLA event on the topic says its alarm was raised: a replay learns it from here."""
        await clock_store.note_raised(conn, event, alarms.ALARM_OF_EVENT[type(event)])
        await self.handoff(conn, event)

    async def retraction_seen(self, conn: asyncpg.Connection, event: SlaBreachRetracted) -> None:
        """A retraction on the topic says the stage's breach was retracted (a replay)."""
        await clock_store.note_retracted(conn, event)
        await self.handoff(conn, event)

    async def dispute_opened(self, conn: asyncpg.Connection, event: DisputeOpened) -> None:
        await dispute_store.dispute_opened(conn, event)
        await self.handoff(conn, event)

    async def dispute_escalated(self, conn: asyncpg.Connection, event: DisputeEscalated) -> None:
        await dispute_store.dispute_escalated(conn, event)
        await self.handoff(conn, event)

    async def dispute_settled(self, conn: asyncpg.Connection, event: DisputeSettled) -> None:
        await dispute_store.dispute_settled(conn, event)
        await self.handoff(conn, event)

    async def pause_edge(self, conn: asyncpg.Connection, event: OrderParties) -> None:
        """A wait of the order began or ended: keep it, and move the clocks it stops."""
        await self.handoff(conn, event)
        edge = pauses.edge_of(event)
        if edge is None:
            return
        await clock_store.lock_order_clocks(conn, event.order_id)
        await clock_store.record_pause_edge(conn, event.order_id, edge)
        known = pauses.pause_intervals(
            (await clock_store.pause_edges(conn, [event.order_id])).get(event.order_id, [])
        )
        for stage in await clock_store.pausable_stages(conn, event.order_id):
            await self._move_clock(conn, stage, known)

    async def handoff(self, conn: asyncpg.Connection, event: OrderParties) -> None:
        """Record the event and the stage boundaries it marks."""
        trace_id = current_trace_id()
        await store.record_event(conn, event, trace_id)
        await self.sink.event_recorded(conn, event)
        traceparent = current_trace_headers().get("traceparent")
        marked = domain.boundaries(type(event))
        for stage_name, edge in marked:
            stage = await store.mark_boundary(
                conn,
                event,
                stage_name,
                edge,
                trace_id=trace_id,
                traceparent=traceparent,
                outcome=domain.outcome_of(type(event)) if edge is domain.Edge.END else None,
            )
            if stage.needs_clock:
                stage = await _start_clock(conn, event, stage)
            if stage.pause_reasons and stage.duration_s is None:
                stage = await self._paused_clock(conn, stage)
            if stage.can_close:
                await self._close(conn, stage)
        if domain.may_meet_order_end(type(event), marked):
            await self._close_at_order_end(conn, event.order_id)

    async def _close_at_order_end(self, conn: asyncpg.Connection, order_id: UUID) -> None:
        """The order ended (rejected, its cancellation settled, blocked for good: not the
        cancellation request): every stage of it still running closes then, with that outcome.
        Run on those events and on every stage start, so a stage that starts after the end
        was read (a replay reading the orders topic after fulfilment's) closes at the same
        instant as live."""
        for stage in await clock_store.end_stages_at_order_end(conn, order_id):
            if stage.pause_reasons and stage.duration_s is None:
                stage = await self._paused_clock(conn, stage)
            if stage.can_close:
                await self._close(conn, stage)

    async def _paused_clock(self, conn: asyncpg.Connection, stage: StageRow) -> StageRow:
        """A clock that may pause, set or ended just now: timed with every pause known."""
        await clock_store.lock_order_clocks(conn, stage.order_id)
        edges = (await clock_store.pause_edges(conn, [stage.order_id])).get(stage.order_id, [])
        return await self._move_clock(conn, stage, pauses.pause_intervals(edges))

    async def _move_clock(
        self, conn: asyncpg.Connection, stage: StageRow, known: list[pauses.Pause]
    ) -> StageRow:
        """Warning and deadline from the stage's start, target and calendar less its pauses;
        SlaPaused / SlaResumed for the pauses not announced yet."""
        if (
            stage.started_at is None
            or stage.target_s is None
            or stage.warning_s is None
            or stage.calendar is None
        ):
            return stage
        cut = pauses.stage_pauses(
            known, stage.pause_reasons, started_at=stage.started_at, ended_at=stage.ended_at
        )
        clock = pauses.paused_clock(
            started_at=stage.started_at,
            target_s=stage.target_s,
            warning_s=stage.warning_s,
            calendar=stage.calendar,
            pauses=cut,
        )
        moved = (clock.warn_at, clock.deadline, clock.paused_s, clock.paused_since)
        if moved != (stage.warn_at, stage.deadline, stage.paused_s, stage.paused_since):
            stage = await clock_store.set_paused_clock(
                conn, order_id=stage.order_id, stage=stage.stage, clock=clock
            )
        events = alarms.pause_events(stage, cut)
        if events:
            new = await clock_store.new_pause_notices(conn, [e.event_id for e in events])
            await self.sink.pauses_noticed(conn, [e for e in events if e.event_id in new])
        return stage

    async def _close(self, conn: asyncpg.Connection, stage: StageRow) -> None:
        """Record the real duration once. A stage that ended after its deadline is breached, and
        if its clock had not fired yet (events arrived late) the alarms are raised now; one
        its order's end closed raises nothing (the outcome decides). A breach its end proves
        wrong (it ended by the deadline) is retracted."""
        duration = stage.elapsed_seconds()
        if not await clock_store.close_stage(conn, stage.order_id, stage.stage, duration):
            return
        late = stage.late_alarms()
        if sla.Alarm.BREACH in late:
            await clocks.raise_alarms(conn, self.sink, stage, late, now=datetime.now(UTC))
        elif stage.breach_proved_wrong:
            await self._retract(conn, stage)
        self.sink.stage_closed(stage, duration)

    async def _retract(self, conn: asyncpg.Connection, stage: StageRow) -> None:
        """SlaBreachRetracted (once: its id derives from the stage) in the trace of the event
        that ended the stage, marked in this transaction."""
        now = datetime.now(UTC)
        await clock_store.mark_retracted(conn, order_id=stage.order_id, stage=stage.stage, at=now)
        await self.sink.alarms_raised(conn, [alarms.retraction_event(stage, now=now)])


async def _start_clock(conn: asyncpg.Connection, event: OrderParties, stage: StageRow) -> StageRow:
    """Time the stage under the policy version in force when it started (it keeps that version
    however the policy changes later); unchanged when no policy applies.

    The policy is picked from the facts the starting event carries (supplier, requester,
    priority), so live and a replay pick the same one whichever topic they read first. An
    older event without the priority falls back to the order's as seen so far."""
    if stage.started_at is None:
        return stage
    priority = domain.carried_priority(event)
    if priority is None:
        priority = await store.order_priority(conn, event.order_id)
    found = sla.policy_for(
        await reference_store.policy_versions(conn, supplier=event.supplier),
        supplier=event.supplier,
        requester=event.requester,
        priority=priority,
        at=stage.started_at,
    )
    if found is None:
        return stage
    code = found.content.calendar_code
    named = await reference_store.calendar_versions(conn, code=code) if code else []
    calendar = sla.calendar_for(found.content, named, stage.started_at)
    clock = sla.clock_for(found, stage.stage, stage.started_at, calendar)
    if clock is None:
        return stage
    clock = replace(clock, pause_reasons=pauses.reasons_pausing(found.content, stage.stage))
    return await store.set_clock(conn, order_id=event.order_id, stage=stage.stage, clock=clock)
