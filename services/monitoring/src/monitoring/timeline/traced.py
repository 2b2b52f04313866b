"""An event with the trace it was consumed in: what the timeline keeps of the trace."""

from __future__ import annotations

from dataclasses import dataclass

from supplychain_contracts.events import OrderParties
from supplychain_kit.telemetry import consumed_in, current_trace_headers, current_trace_id


@dataclass(frozen=True)
class Traced:
    event: OrderParties
    trace_id: str | None  # the trace the event continues
    traceparent: str | None  # the SLA events a stage's clock raises continue it

    @classmethod
    def current(cls, event: OrderParties) -> Traced:
        """The event in the trace it was consumed in (its own span, also within a run)."""
        with consumed_in(event):
            return cls(event, current_trace_id(), current_trace_headers().get("traceparent"))
