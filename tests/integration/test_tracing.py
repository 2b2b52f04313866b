"""One trace per root order, checked on the spans themselves.

The four services export over OTLP/HTTP to a small receiver in this test (what a collector
would get); the spans of one order must form a single tree across all four services.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from supplychain_contracts import topics
from support import auth, has_event, order_body, read_records

pytestmark = pytest.mark.integration
SERVICES = ("order-intake", "fulfilment", "invoicing", "monitoring")


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, str]


class OtlpReceiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[ExportedSpan] = []
        self.lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: OtlpReceiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest.FromString(body)
        with self.server.lock:
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            ExportedSpan(
                                service=service,
                                name=span.name,
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                attributes={a.key: a.value.string_value for a in span.attributes},
                            )
                        )
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:  # keep test output quiet
        pass


@pytest.fixture
def otlp() -> Iterator[OtlpReceiver]:
    receiver = OtlpReceiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()


async def test_an_order_is_one_trace_tree_across_the_four_services(
    start_service, broker, otlp
) -> None:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "200",
        "FULFILMENT_AUTOPILOT": "true",
        "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.2",
        "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.2",
        "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.2",
    }
    services = {name: start_service(name, env=env, wait=False) for name in SERVICES}
    for service in services.values():
        service.wait_ready()
    async with httpx.AsyncClient(
        base_url=services["order-intake"].url, headers=auth("ASSEMBLY")
    ) as client:
        response = await client.post(
            "/v1/orders",
            json=order_body(supplier="WHEELS", sku="WHEEL-28"),
            headers={"Idempotency-Key": f"trace-{uuid.uuid4()}"},
        )
    assert response.status_code == 201, response.text
    order_id = response.json()["order_id"]
    records = await read_records(
        broker.bootstrap_servers,
        topics.ALL_TOPICS,
        until=has_event(order_id, "InvoiceIssued"),
        timeout=60,
    )
    trace_id = next(r.trace_id for r in records if r.json.get("order_id") == order_id)

    def spans_of_trace() -> list[ExportedSpan]:
        with otlp.lock:
            return [s for s in otlp.spans if s.trace_id == trace_id]

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        spans = spans_of_trace()
        consumed_invoice = any(
            s.service == "monitoring"
            and s.attributes.get("supplychain.event_type") == "InvoiceIssued"
            for s in spans
        )
        if consumed_invoice and {s.service for s in spans} >= set(SERVICES):
            break
        await asyncio.sleep(0.2)
    spans = spans_of_trace()
    assert {s.service for s in spans} >= set(SERVICES), {s.service for s in spans}
    # a single tree: one root (the intake request), every other span's parent is in the trace
    ids = {s.span_id for s in spans}
    roots = [s for s in spans if s.parent_id == "" or s.parent_id not in ids]
    assert [(r.service, r.name) for r in roots] == [("order-intake", "POST /v1/orders")], roots
    # the project's span attributes, on the spans that handle the order's events
    consumers = [s for s in spans if s.name.startswith("consume ")]
    assert consumers
    for span in consumers:
        assert span.attributes["supplychain.order_id"] == order_id
        assert span.attributes["supplychain.root_order_id"] == order_id
        assert span.attributes["supplychain.department"] == "WHEELS"
    commands = {
        s.name
        for s in spans
        if s.service == "fulfilment" and not s.name.startswith(("consume", "publish"))
    }
    assert {"fulfilment accept", "fulfilment ship", "fulfilment receipt"} <= commands, commands
