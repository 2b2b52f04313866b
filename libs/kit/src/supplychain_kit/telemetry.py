"""OpenTelemetry setup, W3C trace-context propagation through Kafka headers, and the messaging
spans of the OpenTelemetry semantic conventions (v1.44.0, Kafka).

One production chain is one trace: the relay's `send <topic>` span of a record is the child of
the context its outbox row was written in, and its context travels in the record's
`traceparent`; the consumer's `process <topic>` span is the child of that context.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any, Final

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import OTELResourceDetector, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.util.types import Attributes
from supplychain_contracts.envelope import Envelope, Event

from supplychain_kit.settings import ServiceSettings

log = logging.getLogger(__name__)

SCHEMA_URL: Final = "https://opentelemetry.io/schemas/1.44.0"

# Custom span attributes (contract: declared once, under the project prefix).
ATTR_ORDER_ID: Final = "supplychain.order_id"
ATTR_ROOT_ORDER_ID: Final = "supplychain.root_order_id"
ATTR_DEPARTMENT: Final = "supplychain.department"
ATTR_STAGE: Final = "supplychain.stage"
ATTR_EVENT_TYPE: Final = "supplychain.event_type"

# Messaging semantic conventions (https://opentelemetry.io/docs/specs/semconv/messaging/kafka/).
MESSAGING_SYSTEM: Final = "messaging.system"
MESSAGING_DESTINATION: Final = "messaging.destination.name"
MESSAGING_OPERATION_TYPE: Final = "messaging.operation.type"
MESSAGING_OPERATION_NAME: Final = "messaging.operation.name"
MESSAGING_MESSAGE_ID: Final = "messaging.message.id"
MESSAGING_CONSUMER_GROUP: Final = "messaging.consumer.group.name"
MESSAGING_PARTITION: Final = "messaging.destination.partition.id"
MESSAGING_KAFKA_KEY: Final = "messaging.kafka.message.key"
MESSAGING_KAFKA_OFFSET: Final = "messaging.kafka.offset"
ERROR_TYPE: Final = "error.type"

_tracer = trace.get_tracer("supplychain", schema_url=SCHEMA_URL)
# setup_tracing sets it: whether a span under an unsampled parent may be skipped.
_carry_unsampled = True


class InTraceClientCalls(Sampler):
    """Outgoing calls (database queries) are traced as parts of a trace, never as roots of
    their own: the relay's polling, the SLA clock's scans and the readiness probe's query would
    otherwise each make a one-span trace. Everything else is the delegate's decision."""

    def __init__(self, delegate: Sampler) -> None:
        self._delegate = delegate

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        if kind is SpanKind.CLIENT and not (
            trace.get_current_span(parent_context).get_span_context().is_valid
        ):
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"InTraceClientCalls{{{self._delegate.get_description()}}}"


def sampler_named(name: str, arg: float = 1.0) -> Sampler:
    """The sampler an `OTEL_TRACES_SAMPLER` value names (`OTEL_TRACES_SAMPLER_ARG`: the ratio)."""
    samplers: dict[str, Sampler] = {
        "always_on": ALWAYS_ON,
        "always_off": ALWAYS_OFF,
        "traceidratio": TraceIdRatioBased(arg),
        "parentbased_always_on": ParentBased(ALWAYS_ON),
        "parentbased_always_off": ParentBased(ALWAYS_OFF),
        "parentbased_traceidratio": ParentBased(TraceIdRatioBased(arg)),
    }
    return samplers[name]


def package_version(module: str) -> str:
    """The installed version of the distribution that provides `module`."""
    top = module.split(".", 1)[0]
    try:
        return importlib.metadata.version(top.replace("_", "-"))
    except importlib.metadata.PackageNotFoundError:
        names = importlib.metadata.packages_distributions().get(top, [])
        return importlib.metadata.version(names[0]) if names else "unknown"


def service_resource(
    service_name: str, *, service_version: str | None, environment: str | None
) -> Resource:
    """service.name, service.version and deployment.environment.name; an operator's
    `OTEL_RESOURCE_ATTRIBUTES` adds to them and wins where both name an attribute."""
    ours: dict[str, str] = {"service.name": service_name}
    if service_version:
        ours["service.version"] = service_version
    if environment:
        ours["deployment.environment.name"] = environment
    return Resource.create(ours).merge(OTELResourceDetector().detect())


def setup_tracing(
    service_name: str,
    *,
    otlp_endpoint: str | None,
    sampler: Sampler | None = None,
    service_version: str | None = None,
    environment: str | None = None,
) -> TracerProvider:
    """Install a tracer provider (parent-based sampling unless told otherwise); with an OTLP
    endpoint, export over OTLP/HTTP and trace the database calls too.

    Without an endpoint nothing would read a span, so none is recorded (and the database is
    not instrumented): trace context is still made and carried, so log lines and exemplars
    keep their trace ids, at a fraction of the cost of recording."""
    global _carry_unsampled
    chosen = sampler or ParentBased(ALWAYS_ON)
    provider = TracerProvider(
        resource=service_resource(
            service_name, service_version=service_version, environment=environment
        ),
        sampler=InTraceClientCalls(chosen if otlp_endpoint else ALWAYS_OFF),
    )
    # A parent-based sampler records nothing under an unsampled parent: skip making the span.
    _carry_unsampled = isinstance(chosen, ParentBased) or not otlp_endpoint
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
        instrument_database()
    trace.set_tracer_provider(provider)
    return provider


def setup_service_tracing(settings: ServiceSettings, *, package: str) -> TracerProvider:
    """Tracing of a service as its settings say (the standard OTEL_* variables)."""
    return setup_tracing(
        settings.service_name,
        otlp_endpoint=settings.otel_exporter_otlp_endpoint,
        sampler=sampler_named(settings.otel_traces_sampler, settings.otel_traces_sampler_arg),
        service_version=package_version(package),
        environment=settings.environment,
    )


def instrument_database() -> None:
    """asyncpg queries as CLIENT spans (statement text without parameter values), once."""
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    instrumentor = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument()


def tracer() -> trace.Tracer:
    return _tracer


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


# The span each event of a batch handler's run was consumed in, while the handler runs: the
# current span there is the run's, which continues only the first event's trace.
_RUN_SPANS: ContextVar[Mapping[uuid.UUID, trace.SpanContext]] = ContextVar(
    "run_spans", default=MappingProxyType({})
)


@contextmanager
def run_spans(spans: Mapping[uuid.UUID, trace.SpanContext]) -> Iterator[None]:
    """While a batch handler applies a run: each event's own span, by event id."""
    token = _RUN_SPANS.set(spans)
    try:
        yield
    finally:
        _RUN_SPANS.reset(token)


@contextmanager
def consumed_in(event: Event) -> Iterator[None]:
    """Make the span `event` was consumed in the current one: within a batch handler each
    event of the run has its own; elsewhere the current span already is it."""
    context = _RUN_SPANS.get().get(event.event_id)
    if context is None:
        yield
        return
    with trace.use_span(trace.NonRecordingSpan(context)):
        yield


def current_trace_id() -> str | None:
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x")


def set_order_attributes(span: Span, event: Event, *, department: str | None = None) -> None:
    if not span.is_recording():
        return
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


def set_error(span: Span, error: BaseException, description: str | None = None) -> None:
    span.set_status(Status(StatusCode.ERROR, description))
    if span.is_recording():
        span.set_attribute(ERROR_TYPE, type(error).__qualname__)


@contextmanager
def continue_trace(
    name: str,
    headers: Mapping[str, str],
    *,
    kind: SpanKind,
    links: Sequence[trace.Link] | None = None,
    attributes: Attributes = None,
) -> Iterator[Span]:
    """Start a span whose parent is the trace context carried in `headers` (under an
    unsampled parent, the parent's context is carried on instead: nothing would record)."""
    if _carry_on(headers):
        with _carried(headers) as carried:
            yield carried
        return
    parent = propagate.extract(headers)
    with _tracer.start_as_current_span(
        name, context=parent, kind=kind, links=links, attributes=attributes
    ) as span:
        yield span


@contextmanager
def join_trace(name: str, order_trace: Mapping[str, str]) -> Iterator[Span]:
    """Work on an order joins the order's trace (one trace per root order), linked to the
    span of whoever asked for it (an HTTP request, a scheduler tick)."""
    caller = trace.get_current_span().get_span_context()
    links = [trace.Link(caller)] if caller.is_valid else None
    with continue_trace(name, order_trace, kind=SpanKind.INTERNAL, links=links) as span:
        yield span


@contextmanager
def processing(
    topic: str,
    headers: Mapping[str, str],
    *,
    partition: int,
    offset: int,
    key: bytes | None,
    group: str,
) -> Iterator[Span]:
    """The `process <topic>` span of one consumed record: the child of the context in its
    `traceparent` (so the chain stays one trace)."""
    if _carry_on(headers):
        with _carried(headers) as carried:
            yield carried
        return
    # Attributes at the start, in one go: the SDK reads them only for a span that records.
    attributes: dict[str, str | int] = {
        MESSAGING_SYSTEM: "kafka",
        MESSAGING_OPERATION_TYPE: "process",
        MESSAGING_OPERATION_NAME: "process",
        MESSAGING_DESTINATION: topic,
        MESSAGING_CONSUMER_GROUP: group,
        MESSAGING_PARTITION: str(partition),
        MESSAGING_KAFKA_OFFSET: offset,
    }
    if key is not None:
        attributes[MESSAGING_KAFKA_KEY] = key.decode("utf-8", "replace")
    with continue_trace(
        f"process {topic}", headers, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span


def _carry_on(headers: Mapping[str, str]) -> bool:
    """The traceparent says its trace is not sampled (the sampled bit of its flags clear:
    `-00`, or `-02` with W3C Trace Context 2's random-trace-id flag, which the SDK sets) and
    the sampler is parent-based: no span would record, the context is carried on as it is."""
    traceparent = headers.get("traceparent")
    return _carry_unsampled and traceparent is not None and not _sampled(traceparent)


def _sampled(traceparent: str) -> bool:
    """The sampled bit of a traceparent's flags (a malformed one counts as sampled: the
    propagator then starts a new trace, which is recorded as any other)."""
    try:
        return bool(int(traceparent[-2:], 16) & 0x01)
    except ValueError:
        return True


@contextmanager
def _carried(headers: Mapping[str, str]) -> Iterator[Span]:
    """The context in `headers` made current, without a span of our own."""
    span = trace.get_current_span(propagate.extract(headers))
    with trace.use_span(span, end_on_exit=False):
        yield span


def start_send(topic: str, *, key: str, message_id: object, headers: dict[str, str]) -> Span | None:
    """The `send <topic>` span of one record, the child of the context its outbox row was
    written in (`headers` as stored); its own context replaces the record's `traceparent`.
    End it with `end_send` once the broker confirmed (or refused) the record.

    A record of an unsampled trace gets no span (parent-based sampling would not record it)
    and keeps its traceparent as written: the relay then does no tracing work for it."""
    if _carry_on(headers):
        return None
    span = _tracer.start_span(
        f"send {topic}",
        context=propagate.extract(headers),
        kind=SpanKind.PRODUCER,
        attributes={
            MESSAGING_SYSTEM: "kafka",
            MESSAGING_OPERATION_TYPE: "send",
            MESSAGING_OPERATION_NAME: "send",
            MESSAGING_DESTINATION: topic,
            MESSAGING_KAFKA_KEY: key,
            MESSAGING_MESSAGE_ID: str(message_id),
        },
    )
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return span


def end_send(span: Span | None, confirmation: Any) -> None:
    """End the send span when the broker's confirmation (an asyncio future of the record's
    metadata) completes: with its partition and offset, or with the error (an exception
    raised while enqueueing ends it at once)."""
    if span is None:
        return
    if isinstance(confirmation, BaseException):
        set_error(span, confirmation, str(confirmation))
    if not isinstance(confirmation, asyncio.Future):
        span.end()
        return

    def confirmed(done: asyncio.Future[Any]) -> None:
        if done.cancelled():
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
        elif (error := done.exception()) is not None:
            set_error(span, error, str(error))
        elif span.is_recording():
            metadata = done.result()
            span.set_attributes(
                {
                    MESSAGING_PARTITION: str(metadata.partition),
                    MESSAGING_KAFKA_OFFSET: metadata.offset,
                }
            )
        span.end()

    confirmation.add_done_callback(confirmed)
