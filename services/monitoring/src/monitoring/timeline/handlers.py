"""Consumed events of every topic: handoff timelines, stage durations and SLA clocks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

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
from supplychain_kit.messaging.dispatch import Batched, Dispatch, dispatch

from monitoring.sla import alarms
from monitoring.sla import store as clock_store
from monitoring.timeline import dispute_store, store
from monitoring.timeline.handoffs import Handoffs
from monitoring.timeline.sinks import AlarmSink
from monitoring.timeline.traced import Traced


def event_applier(sink: AlarmSink, *, batched: bool = False) -> Dispatch:
    """The effect of the events; raised alarms and closed stages go to `sink` (the outbox and
    metrics live, nowhere in a replay).

    `batched`: the consumer hands the handler every run of consecutive events of a fetched
    batch at once (a statement per kind of effect for all of them); each event keeps the
    trace it was consumed in (`Traced.current`: stages, exemplars, the SLA events a clock
    raises continue it)."""
    timelines = Timelines(sink)
    handler = Batched(timelines.apply_run) if batched else timelines.apply_one
    return dispatch({OrderParties: handler})


@dataclass
class Timelines:
    """Every order event lands on its order's timeline and may start or end stages."""

    sink: AlarmSink
    handoffs: Handoffs = field(init=False)

    def __post_init__(self) -> None:
        self.handoffs = Handoffs(self.sink)

    async def apply_one(self, conn: asyncpg.Connection, event: OrderParties) -> None:
        await self.apply_run(conn, [event])

    async def apply_run(self, conn: asyncpg.Connection, events: Sequence[OrderParties]) -> None:
        """What the events record of their own (orders, ratings, alarms seen, disputes), then
        the run on the timelines, each event in the trace of the current span."""
        traced = [Traced.current(event) for event in events]
        await store.record_orders(
            conn, [(t.event, t.trace_id) for t in traced if isinstance(t.event, OrderPlaced)]
        )
        await store.record_feedback(
            conn, [t.event for t in traced if isinstance(t.event, FeedbackGiven)]
        )
        for one in traced:
            before = BEFORE_HANDOFF.get(type(one.event))
            if before is not None:
                await before(conn, one.event)
        await self.handoffs.apply(conn, traced)


async def _alarm_seen(conn: asyncpg.Connection, event: SlaClockEvent) -> None:
    """An SLA event on the topic says its alarm was raised: a replay learns it from here."""
    await clock_store.note_raised(conn, event, alarms.ALARM_OF_EVENT[type(event)])


# What an event of these classes records of its own before it lands on its order's timeline
# (the rarer ones, one at a time).
BEFORE_HANDOFF: dict[type[OrderParties], Callable[[asyncpg.Connection, Any], Awaitable[None]]] = {
    **{event: _alarm_seen for event in alarms.ALARM_OF_EVENT},
    # a retraction on the topic says the stage's breach was retracted (a replay)
    SlaBreachRetracted: clock_store.note_retracted,
    DisputeOpened: dispute_store.dispute_opened,
    DisputeEscalated: dispute_store.dispute_escalated,
    DisputeSettled: dispute_store.dispute_settled,
}
