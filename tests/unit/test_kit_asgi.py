"""Request observation: FastAPI's route-named server spans continuing the caller's trace (as
the kit configures them), our duration histogram by route template, probes left alone."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from supplychain_kit.http.asgi import ObserveRequests, fastapi_telemetry

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def provider() -> TracerProvider:
    """The test's own provider: the global one may be a service's (of an earlier in-process
    test), which records nothing without an exporter."""
    return TracerProvider()


@pytest.fixture
def spans(provider: TracerProvider) -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _app(provider: TracerProvider) -> FastAPI:
    app = FastAPI(telemetry={**fastapi_telemetry(), "tracer_provider": provider})

    @app.get("/v1/things/{thing_id}")
    async def thing(thing_id: int) -> dict[str, int]:
        return {"thing_id": thing_id}

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    app.add_middleware(ObserveRequests, service="asgi-test")
    return app


def _count(route: str, status: str) -> float:
    value = REGISTRY.get_sample_value(
        "supplychain_http_request_duration_seconds_count",
        {"service": "asgi-test", "method": "GET", "route": route, "status": status},
    )
    return value or 0.0


async def test_a_request_span_is_named_by_its_route_and_continues_the_callers_trace(
    spans: InMemorySpanExporter, provider: TracerProvider
) -> None:
    before = _count("/v1/things/{thing_id}", "200")
    transport = httpx.ASGITransport(app=_app(provider))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answer = await client.get(
            "/v1/things/7", headers={"traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01"}
        )
        invalid = await client.get("/v1/things/not-a-number")
        live = await client.get("/health/live")
    assert (answer.status_code, invalid.status_code, live.status_code) == (200, 422, 200)
    finished = spans.get_finished_spans()
    assert not [s for s in finished if s.name.startswith("fastapi.")]  # no operation spans
    span, invalid_span = (s for s in finished if s.name == "GET /v1/things/{thing_id}")
    assert format(span.context.trace_id, "032x") == CALLER_TRACE
    assert span.kind is trace.SpanKind.SERVER
    assert span.attributes["http.route"] == "/v1/things/{thing_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert invalid_span.attributes["http.response.status_code"] == 422
    assert format(invalid_span.context.trace_id, "032x") != CALLER_TRACE  # a trace of its own
    assert not [s for s in finished if "health" in s.name]  # probes are not traced
    assert _count("/v1/things/{thing_id}", "200") == before + 1
    assert _count("/v1/things/{thing_id}", "422") >= 1
