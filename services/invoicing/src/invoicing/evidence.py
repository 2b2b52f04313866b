"""A dispute's evidence: the order's handoff timeline as invoicing consumed it.

`recording(apply)` wraps the service's subscriber: every consumed order event (placed,
fulfilment, SLA) is noted with its type, time and the trace its record carried, in the
consumer's transaction, before the event's own effect. The consumer hands the order events
of a fetched batch over as runs (one batch handler): a run's evidence is one statement, then
its events take effect in their order, the consecutive ones of a batch handler together.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import asyncpg
from supplychain_contracts.envelope import Event
from supplychain_contracts.events import OrderParties
from supplychain_kit.messaging.dispatch import Batched, Dispatch
from supplychain_kit.telemetry import consumed_in, current_trace_id

from invoicing import disputes_store


class RecordingEvidence(Dispatch):
    """The subscriber's dispatch table, noting each order event first. A Dispatch still, so
    the consumer hands it the runs of order events of a batch."""

    def __init__(self, apply: Dispatch) -> None:
        super().__init__({})
        self._apply = apply
        self._run = Batched(self.apply_run)

    def batched(self, event: Event) -> Batched | None:
        return self._run if isinstance(event, OrderParties) else self._apply.batched(event)

    def handles(self, model: type[Event]) -> bool:
        # every order event is evidence, with or without an effect of its own: the consumer
        # must read it, not skip it by its header
        return issubclass(model, OrderParties) or self._apply.handles(model)

    async def __call__(self, conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, OrderParties):
            await self.apply_run(conn, [event])
        else:
            await self._apply(conn, event)

    async def apply_run(self, conn: asyncpg.Connection, events: Sequence[OrderParties]) -> None:
        """The run's evidence, then each event's effect in the trace it was consumed in."""
        trace_ids = []
        for event in events:
            with consumed_in(event):  # the consumed record's trace, which this continues
                trace_ids.append(current_trace_id())
        await disputes_store.save_evidence(conn, events, trace_ids=trace_ids)
        # events that are evidence only do not split the others' runs: nothing to order them by
        effective = [event for event in events if self._apply.handles(type(event))]
        for handler, run in itertools.groupby(effective, key=self._apply.batched):
            if handler is not None:
                await handler.handle(conn, list(run))
                continue
            for event in run:
                with consumed_in(event):
                    await self._apply(conn, event)


def recording(apply: Dispatch) -> RecordingEvidence:
    return RecordingEvidence(apply)
