"""A dispute's evidence: the order's handoff timeline as invoicing consumed it.

`recording(apply)` wraps the service's subscriber: every consumed order event (placed,
fulfilment, SLA) is noted with its type, time and the trace its record carried, in the
consumer's transaction, before the event's own effect. Batched handlers (none in invoicing
today) take their events without passing here.
"""

from __future__ import annotations

import asyncpg
from supplychain_contracts.envelope import Event
from supplychain_contracts.events import OrderParties
from supplychain_kit.messaging.dispatch import Batched, Dispatch
from supplychain_kit.telemetry import current_trace_id

from invoicing import disputes_store


class RecordingEvidence(Dispatch):
    """The subscriber's dispatch table, noting each order event first. A Dispatch still, so
    the consumer keeps batching what the table batches."""

    def __init__(self, apply: Dispatch) -> None:
        super().__init__({})
        self._apply = apply

    def batched(self, event: Event) -> Batched | None:
        return self._apply.batched(event)

    def handles(self, model: type[Event]) -> bool:
        # every order event is evidence, with or without an effect of its own: the consumer
        # must read it, not skip it by its header
        return issubclass(model, OrderParties) or self._apply.handles(model)

    async def __call__(self, conn: asyncpg.Connection, event: Event) -> None:
        if isinstance(event, OrderParties):
            await disputes_store.save_evidence(
                conn,
                order_id=event.order_id,
                event_id=event.event_id,
                event_type=event.event_type,
                occurred_at=event.occurred_at,
                trace_id=current_trace_id(),  # the consumed record's trace, which this continues
            )
        await self._apply(conn, event)


def recording(apply: Dispatch) -> RecordingEvidence:
    return RecordingEvidence(apply)
