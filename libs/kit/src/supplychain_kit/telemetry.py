"""OpenTelemetry setup and W3C trace-context propagation through Kafka headers."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Final

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind
from supplychain_contracts.envelope import Envelope, Event

log = logging.getLogger(__name__)

# Custom span attributes (contract: declared once, under the project prefix).
ATTR_ORDER_ID: Final = "supplychain.order_id"
ATTR_ROOT_ORDER_ID: Final = "supplychain.root_order_id"
ATTR_DEPARTMENT: Final = "supplychain.department"
ATTR_STAGE: Final = "supplychain.stage"
ATTR_EVENT_TYPE: Final = "supplychain.event_type"


def setup_tracing(
    service_name: str, *, otlp_endpoint: str | None, sampling_ratio: float
) -> TracerProvider:
    """Install a tracer provider; export over OTLP/HTTP when an endpoint is configured."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service_name}),
        sampler=ParentBased(TraceIdRatioBased(sampling_ratio)),
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    return provider


def tracer() -> trace.Tracer:
    return trace.get_tracer("supplychain")


def current_trace_headers() -> dict[str, str]:
    """traceparent (and tracestate) of the current span, for a record's headers."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def headers_to_dict(
    headers: Sequence[tuple[str, bytes]] | Mapping[str, str] | None,
) -> dict[str, str]:
    if headers is None:
        return {}
    if isinstance(headers, Mapping):
        return {str(k): str(v) for k, v in headers.items()}
    return {name: value.decode("utf-8", "replace") for name, value in headers}


def trace_id_of(headers: Mapping[str, str]) -> str | None:
    """The 32-hex trace id of a traceparent header, if present and well formed."""
    parts = headers.get("traceparent", "").split("-")
    if len(parts) == 4 and len(parts[1]) == 32:
        return parts[1]
    return None


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")


def set_order_attributes(span: Span, event: Event, *, department: str | None = None) -> None:
    span.set_attribute(ATTR_EVENT_TYPE, event.event_type)
    if isinstance(event, Envelope):
        span.set_attribute(ATTR_ORDER_ID, str(event.order_id))
        span.set_attribute(ATTR_ROOT_ORDER_ID, str(event.root_order_id))
    supplier = department or getattr(event, "supplier", None)
    if supplier:
        span.set_attribute(ATTR_DEPARTMENT, str(supplier))
    stage = getattr(event, "stage", None)
    if stage:
        span.set_attribute(ATTR_STAGE, str(stage))


@contextmanager
def continue_trace(
    name: str,
    headers: Mapping[str, str],
    *,
    kind: SpanKind,
    links: Sequence[trace.Link] | None = None,
) -> Iterator[Span]:
    """Start a span whose parent is the trace context carried in `headers`."""
    parent = propagate.extract(dict(headers))
    token = otel_context.attach(parent)
    try:
        with tracer().start_as_current_span(name, kind=kind, links=links) as span:
            yield span
    finally:
        otel_context.detach(token)


@contextmanager
def join_trace(name: str, order_trace: Mapping[str, str]) -> Iterator[Span]:
    """Work on an order joins the order's trace (one trace per root order), linked to the
    span of whoever asked for it (an HTTP request, a scheduler tick)."""
    caller = trace.get_current_span().get_span_context()
    links = [trace.Link(caller)] if caller.is_valid else None
    with continue_trace(name, order_trace, kind=SpanKind.INTERNAL, links=links) as span:
        yield span
