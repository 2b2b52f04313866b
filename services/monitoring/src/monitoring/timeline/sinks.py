"""Where raised alarms, closed stages and recorded events go: the port, the live sink and the
replay's.

Live, alarm events go to the outbox in the caller's transaction and metrics count once it
committed. A replay rebuilds the same state and must emit nothing: the live service emitted
those events and counted those stages the first time.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import asyncpg
from supplychain_contracts import SlaBreached, SlaBreachRetracted, SlaWarning
from supplychain_contracts.events import SlaClockEvent, SlaClockPause, SlaPaused
from supplychain_kit.messaging import outbox
from supplychain_kit.messaging.effects import after_commit

from monitoring import metrics
from monitoring.sla.rules import StageRow
from monitoring.timeline.traced import Traced

# What else watches events once the timeline recorded them (main.py injects the analytics'
# histograms of the time split: the timeline does not import the analytics).
EventObserver = Callable[[asyncpg.Connection, Sequence[Traced]], Awaitable[None]]

COUNTER_OF_EVENT = {
    SlaWarning: metrics.SLA_WARNINGS,
    SlaBreached: metrics.SLA_BREACHES,
    SlaBreachRetracted: metrics.SLA_BREACHES_RETRACTED,
}


class AlarmSink(Protocol):
    async def alarms_raised(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockEvent]
    ) -> None:
        """The alarms of these events (or a breach's retraction) were marked raised in the
        transaction of `conn`."""

    def stage_closed(self, stage: StageRow, duration_s: float) -> None:
        """The stage's duration was recorded in the current transaction."""

    async def pauses_noticed(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockPause]
    ) -> None:
        """A stage's clock stopped or ran again (each event once), in the transaction of `conn`."""

    async def events_recorded(self, conn: asyncpg.Connection, events: Sequence[Traced]) -> None:
        """The events entered their orders' timelines in the transaction of `conn`."""


class Emitting:
    """The live sink: events through the outbox, counters and histogram after the commit."""

    def __init__(
        self,
        observe: EventObserver | None = None,
        clocks_moved: Callable[[], None] | None = None,
    ) -> None:
        self._observe = observe
        self._clocks_moved = clocks_moved  # the clock scan's wake (clocks.ClockWakes)

    async def alarms_raised(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockEvent]
    ) -> None:
        await outbox.append(conn, events)
        after_commit(lambda: _count(events))

    def stage_closed(self, stage: StageRow, duration_s: float) -> None:
        exemplar = {"trace_id": stage.trace_id} if stage.trace_id else None
        histogram = metrics.HANDOFF_DURATION.labels(
            stage=stage.stage.value, supplier=stage.supplier, requester=stage.requester
        )
        after_commit(lambda: histogram.observe(duration_s, exemplar=exemplar))

    async def pauses_noticed(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockPause]
    ) -> None:
        await outbox.append(conn, events)
        after_commit(lambda: _count_pauses(events))

    async def events_recorded(self, conn: asyncpg.Connection, events: Sequence[Traced]) -> None:
        if self._observe is not None:
            await self._observe(conn, events)  # e.g. the wait or the work they end, once committed
        if self._clocks_moved is not None:  # the events may have set, moved or ended clocks
            after_commit(self._clocks_moved)


class Silent:
    """The replay's sink: the state is rebuilt, nothing leaves the service."""

    async def alarms_raised(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockEvent]
    ) -> None:
        return None

    def stage_closed(self, stage: StageRow, duration_s: float) -> None:
        return None

    async def pauses_noticed(
        self, conn: asyncpg.Connection, events: Sequence[SlaClockPause]
    ) -> None:
        return None

    async def events_recorded(self, conn: asyncpg.Connection, events: Sequence[Traced]) -> None:
        return None


def _count(events: Sequence[SlaClockEvent]) -> None:
    for event in events:
        COUNTER_OF_EVENT[type(event)].labels(stage=event.stage.value, supplier=event.supplier).inc()


def _count_pauses(events: Sequence[SlaClockPause]) -> None:
    for event in events:
        if isinstance(event, SlaPaused):
            labels = {"stage": event.stage.value, "supplier": event.supplier}
            metrics.SLA_PAUSES.labels(**labels, reason=event.reason.value).inc()
