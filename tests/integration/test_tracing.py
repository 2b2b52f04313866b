"""One trace per root order, checked on the spans themselves, and the OpenTelemetry semantic
conventions of those spans; the log line of a request carries the request's trace id.

The four services export over OTLP/HTTP to a small receiver in this test (what a collector
would get); the spans of one order must form a single tree across all four services.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from supplychain_contracts import topics
from support import Record, auth, events_of, has_event, order_body, read_records

pytestmark = pytest.mark.integration
SERVICES = ("order-intake", "fulfilment", "invoicing", "monitoring")


# The caller of the intake request: its trace must become the order's trace.
CALLER_TRACE = uuid.uuid4().hex
CALLER_SPAN = "00f067aa0ba902b7"
KIND = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, object]
    resource: dict[str, object]


def _values(attributes: object) -> dict[str, object]:
    """OTLP key-values as plain Python values."""
    values: dict[str, object] = {}
    for attribute in attributes:  # type: ignore[attr-defined]
        which = attribute.value.WhichOneof("value")
        values[attribute.key] = getattr(attribute.value, which) if which else None
    return values


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
                resource = _values(resource_spans.resource.attributes)
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        self.server.spans.append(
                            ExportedSpan(
                                service=str(resource["service.name"]),
                                name=span.name,
                                kind=KIND[span.kind],
                                trace_id=span.trace_id.hex(),
                                span_id=span.span_id.hex(),
                                parent_id=span.parent_span_id.hex(),
                                attributes=_values(span.attributes),
                                resource=resource,
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
        "HTTP_ACCESS_LOG": "true",
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
            headers={
                "Idempotency-Key": f"trace-{uuid.uuid4()}",
                "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
            },
        )
        assert response.status_code == 201, response.text
        order_id = response.json()["order_id"]
        assert (await client.get(f"/v1/orders/{order_id}")).status_code == 200
    records = await read_records(
        broker.bootstrap_servers,
        topics.ALL_TOPICS,
        until=has_event(order_id, "InvoiceIssued"),
        timeout=60,
    )
    chain = events_of(records, order_id)
    # the caller's trace is the order's trace: every record of the chain carries it
    assert {r.trace_id for r in chain} == {CALLER_TRACE}

    def spans_of_trace() -> list[ExportedSpan]:
        with otlp.lock:
            return [s for s in otlp.spans if s.trace_id == CALLER_TRACE]

    def complete(spans: list[ExportedSpan]) -> bool:
        processed_by_monitoring = {
            s.attributes.get("messaging.message.id")
            for s in spans
            if s.service == "monitoring" and s.name.startswith("process ")
        }
        return {s.service for s in spans} >= set(SERVICES) and {
            r.json["event_id"] for r in chain
        } <= processed_by_monitoring

    deadline = time.monotonic() + 30
    # and every span's parent exported (a span ends, and is exported, after its children)
    while time.monotonic() < deadline and not (
        complete(spans_of_trace()) and len(roots_of(spans_of_trace())) == 1
    ):
        await asyncio.sleep(0.2)
    spans = spans_of_trace()
    assert {s.service for s in spans} >= set(SERVICES), {s.service for s in spans}
    # a single tree: one root (the intake request, child of its caller), every other span's
    # parent is in the trace
    roots = roots_of(spans)
    assert [(r.service, r.name, r.parent_id) for r in roots] == [
        ("order-intake", "POST /v1/orders", CALLER_SPAN)
    ], roots
    (request,) = roots
    assert request.kind == "SERVER"
    assert request.attributes["http.route"] == "/v1/orders"
    assert request.attributes["http.request.method"] == "POST"
    assert request.attributes["http.response.status_code"] == 201
    # a batch handler's span (order intake's subscriber, invoicing's deliveries and shipments
    # and monitoring's timelines take a fetched run of events at once): inside the trace, under the process span of the run's
    # first record
    batches = [s for s in spans if "messaging.batch.message_count" in s.attributes]
    per_record = [s for s in spans if s not in batches]
    by_id = {s.span_id: s for s in spans}
    assert {b.service for b in batches} == {"order-intake", "invoicing", "monitoring"}, batches
    for batch in batches:
        assert batch.kind == "CONSUMER"
        assert batch.attributes["messaging.operation.type"] == "process"
        assert int(str(batch.attributes["messaging.batch.message_count"])) >= 1
        first = by_id[batch.parent_id]
        assert first.service == batch.service
        assert batch.name in (first.name, "process")  # process <topic>, or of several
    # the project's span attributes, on the spans that handle the order's events
    consumers = [s for s in per_record if s.name.startswith("process ")]
    assert consumers
    for span in consumers:
        assert span.attributes["supplychain.order_id"] == order_id
        assert span.attributes["supplychain.root_order_id"] == order_id
        assert span.attributes["supplychain.department"] == "WHEELS"
    commands = {s.name for s in spans if s.service == "fulfilment" and s.kind == "INTERNAL"}
    assert {"fulfilment accept", "fulfilment ship", "fulfilment receipt"} <= commands, commands
    _assert_messaging_conventions(per_record, chain, order_id)
    _assert_database_spans(spans)
    for span in spans:
        assert span.resource["service.version"] == "0.1.0", span
        assert span.resource["deployment.environment.name"] == "test", span
    _assert_request_logs(services["order-intake"].log_file, request, order_id)


def roots_of(spans: list[ExportedSpan]) -> list[ExportedSpan]:
    """The spans whose parent is not among them."""
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id == "" or s.parent_id not in ids]


def _assert_messaging_conventions(
    spans: list[ExportedSpan], chain: list[Record], order_id: str
) -> None:
    """`send <topic>` by the relay and `process <topic>` by each consumer of a record, with the
    messaging attributes; the record's traceparent is its send span, the parent of each
    process span."""
    by_message: dict[object, list[ExportedSpan]] = {}
    for span in spans:
        if span.kind in ("PRODUCER", "CONSUMER"):
            by_message.setdefault(span.attributes["messaging.message.id"], []).append(span)
    for record in chain:
        event_id = record.json["event_id"]
        (send,) = (s for s in by_message[event_id] if s.kind == "PRODUCER")
        processes = [s for s in by_message[event_id] if s.kind == "CONSUMER"]
        assert record.headers["traceparent"].split("-")[2] == send.span_id
        assert send.name == f"send {record.topic}"
        assert send.service == record.json["producer"]
        common = {
            "messaging.system": "kafka",
            "messaging.destination.name": record.topic,
            "messaging.kafka.message.key": order_id,
            "messaging.message.id": event_id,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
        }
        assert send.attributes | common == send.attributes, send.attributes
        assert send.attributes["messaging.operation.type"] == "send"
        assert send.attributes["messaging.operation.name"] == "send"
        assert "monitoring" in {s.service for s in processes}
        for process in processes:
            assert process.name == f"process {record.topic}"
            assert process.parent_id == send.span_id
            assert process.attributes | common == process.attributes, process.attributes
            assert process.attributes["messaging.operation.type"] == "process"
            assert process.attributes["messaging.operation.name"] == "process"
            group = process.attributes["messaging.consumer.group.name"]
            assert str(group).startswith(process.service), group


def _assert_database_spans(spans: list[ExportedSpan]) -> None:
    """asyncpg's CLIENT spans, inside the request and the processing of records only."""
    by_id = {s.span_id: s for s in spans}
    queries = [s for s in spans if s.kind == "CLIENT"]
    assert queries
    for query in queries:
        system = query.attributes.get("db.system.name", query.attributes.get("db.system"))
        assert system == "postgresql", query.attributes
        assert query.parent_id in by_id
    parents = {(by_id[q.parent_id].service, by_id[q.parent_id].kind) for q in queries}
    assert ("order-intake", "SERVER") in parents, parents
    assert ("invoicing", "CONSUMER") in parents, parents


def _assert_request_logs(log_file: Path, request: ExportedSpan, order_id: str) -> None:
    """JSON lines; the access line of the order's POST carries its trace and span ids, the
    GET of the order names the order."""
    lines = [json.loads(line) for line in log_file.read_text().splitlines() if line.startswith("{")]
    assert lines
    assert {"timestamp", "level", "service", "logger", "message"} <= set(lines[0])
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    (post,) = (line for line in access if '"POST /v1/orders HTTP' in line["message"])
    assert post["service"] == "order-intake"
    assert (post["trace_id"], post["span_id"]) == (CALLER_TRACE, request.span_id)
    (read,) = (line for line in access if f'"GET /v1/orders/{order_id} HTTP' in line["message"])
    assert read["order_id"] == order_id
    assert read["trace_id"] != CALLER_TRACE  # a request of its own
