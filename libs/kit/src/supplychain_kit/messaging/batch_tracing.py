"""The `process` span of a run of events one batch handler applies together.

The messaging conventions for a batch: one span that continues the first event's trace and
links every event's own (up to OpenTelemetry's link limit).
"""

from __future__ import annotations

import uuid

import asyncpg
from opentelemetry import trace
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind
from supplychain_contracts.envelope import Event

from supplychain_kit.messaging.dispatch import Batched
from supplychain_kit.telemetry import run_spans, tracer

MAX_LINKS = 128  # OpenTelemetry's default span link limit


class BatchRun:
    """Consecutive claimed events of one batch handler, applied together when the run ends,
    in a `process` span that continues the first event's trace and links every event's own
    (the messaging conventions for a batch)."""

    def __init__(self, handler: Batched | None = None) -> None:
        self.handler = handler
        self.events: list[Event] = []
        self.topics: set[str] = set()
        self.contexts: list[SpanContext] = []
        self.spans: dict[uuid.UUID, SpanContext] = {}  # each event's own (telemetry.consumed_in)

    def add(self, event: Event, topic: str, span: Span) -> None:
        self.events.append(event)
        self.topics.add(topic)
        context = span.get_span_context()
        if context.is_valid:
            self.spans[event.event_id] = context
            if len(self.contexts) < MAX_LINKS:
                self.contexts.append(context)

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self.handler is None or not self.events:
            return
        parent = (
            trace.set_span_in_context(NonRecordingSpan(self.contexts[0])) if self.contexts else None
        )
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.operation.name": "process",
            "messaging.batch.message_count": len(self.events),
        }
        name = "process"
        if len(self.topics) == 1:
            (topic,) = self.topics
            attributes["messaging.destination.name"] = topic
            name = f"process {topic}"
        with (
            tracer().start_as_current_span(
                name,
                context=parent,
                kind=SpanKind.CONSUMER,
                links=[Link(context) for context in self.contexts],
                attributes=attributes,
            ),
            run_spans(self.spans),
        ):
            await self.handler.handle(conn, self.events)
        self.events, self.topics, self.contexts, self.spans = [], set(), [], {}
