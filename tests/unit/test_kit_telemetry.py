"""Tracing setup: the standard sampler variables, the resource of a service, and database calls
traced only inside a trace."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from supplychain_kit.settings import ServiceSettings
from supplychain_kit.telemetry import (
    InTraceClientCalls,
    _sampled,
    package_version,
    sampler_named,
    service_resource,
)


@pytest.mark.parametrize(
    ("name", "description"),
    [
        ("always_on", "AlwaysOnSampler"),
        ("always_off", "AlwaysOffSampler"),
        ("traceidratio", "TraceIdRatioBased{0.25}"),
        ("parentbased_always_on", "ParentBased{root:AlwaysOnSampler,"),
        ("parentbased_always_off", "ParentBased{root:AlwaysOffSampler,"),
        ("parentbased_traceidratio", "ParentBased{root:TraceIdRatioBased{0.25},"),
    ],
)
def test_the_standard_sampler_names(name: str, description: str) -> None:
    assert sampler_named(name, 0.25).get_description().startswith(description)


def test_the_sampler_variables_are_read_and_checked() -> None:
    settings = ServiceSettings.model_validate(
        {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
    )
    assert (settings.otel_traces_sampler, settings.otel_traces_sampler_arg) == (
        "parentbased_traceidratio",
        0.1,
    )
    assert ServiceSettings().otel_traces_sampler == "parentbased_always_on"
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER"):
        ServiceSettings.model_validate({"OTEL_TRACES_SAMPLER": "sometimes"})
    with pytest.raises(ValueError, match="OTEL_TRACES_SAMPLER_ARG"):
        ServiceSettings.model_validate({"OTEL_TRACES_SAMPLER_ARG": "2"})


def test_the_resource_names_service_version_and_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OTEL_RESOURCE_ATTRIBUTES", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    attributes = service_resource("fulfilment", service_version="1.2.3", environment="staging")
    assert attributes.attributes["service.name"] == "fulfilment"
    assert attributes.attributes["service.version"] == "1.2.3"
    assert attributes.attributes["deployment.environment.name"] == "staging"
    # an operator's OTEL_RESOURCE_ATTRIBUTES adds and overrides
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=eu-prod,team=ops")
    attributes = service_resource("fulfilment", service_version="1.2.3", environment="production")
    assert attributes.attributes["deployment.environment.name"] == "eu-prod"
    assert attributes.attributes["team"] == "ops"


def test_the_service_version_is_its_package_version() -> None:
    assert package_version("fulfilment") == "0.1.0"
    assert package_version("supplychain_kit.runtime") == "0.1.0"


def test_client_calls_are_traced_only_inside_a_trace() -> None:
    provider = TracerProvider(sampler=InTraceClientCalls(ALWAYS_ON))
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    tracer.start_span("SELECT", kind=SpanKind.CLIENT).end()  # a poll outside any trace
    with tracer.start_as_current_span("process x", kind=SpanKind.CONSUMER):
        tracer.start_span("INSERT", kind=SpanKind.CLIENT).end()
    tracer.start_span("tick", kind=SpanKind.INTERNAL).end()  # other roots: the delegate's say
    assert sorted(s.name for s in exporter.get_finished_spans()) == ["INSERT", "process x", "tick"]
    (insert,) = (s for s in exporter.get_finished_spans() if s.name == "INSERT")
    assert insert.parent is not None
    assert not trace.get_current_span().get_span_context().is_valid


TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331"


@pytest.mark.parametrize(
    ("flags", "sampled"),
    [("00", False), ("02", False), ("01", True), ("03", True), ("zz", True)],
)
def test_the_sampled_bit_of_a_traceparent(flags: str, sampled: bool) -> None:
    # 02: W3C Trace Context 2's random-trace-id flag, without the sampled bit
    assert _sampled(f"{TRACE}-{flags}") is sampled


def test_an_unsampled_trace_as_the_sdk_writes_it_reads_as_unsampled() -> None:
    """The SDK's own traceparent of an unsampled span: a record carrying it gets no span of
    its own (the consumers and the relay carry its context on)."""
    provider = TracerProvider(sampler=ALWAYS_OFF)
    carrier: dict[str, str] = {}
    with provider.get_tracer("test").start_as_current_span("unsampled"):
        TraceContextTextMapPropagator().inject(carrier)
    assert not _sampled(carrier["traceparent"]), carrier
