"""Helpers of the monitoring tests: tiny SLA policies, events as other services publish them."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from supplychain_contracts import (
    OrderAccepted,
    OrderPlaced,
    topic_for,
)
from supplychain_contracts.envelope import Envelope
from supplychain_devstack.services import ServiceProcess

from support import Record, produce
from support.events import order_placed

SUPPLIER, REQUESTER = "WHEELS", "ASSEMBLY"


def policies_env(targets: dict[str, float], *, warning_threshold: float = 0.5) -> dict[str, str]:
    """Service settings replacing the sample policies by one tiny-target policy of WHEELS."""
    policy = {
        "supplier": SUPPLIER,
        "targets_seconds": targets,
        "warning_threshold": warning_threshold,
    }
    return {
        "MONITORING_SLA_POLICIES_JSON": json.dumps([policy]),
        "MONITORING_SLA_SCAN_INTERVAL_MS": "100",
        "MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS": "0.2",
        "MONITORING_SLA_WATERMARK_INTERVAL_MS": "200",
    }


def traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-{uuid.uuid4().hex[:16]}-01"


def parties(order_id: uuid.UUID) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "root_order_id": order_id,
        "producer": "test",
        "supplier": SUPPLIER,
        "requester": REQUESTER,
    }


def placed(order_id: uuid.UUID, at: datetime | None = None) -> OrderPlaced:
    return order_placed(
        **parties(order_id),
        occurred_at=at or datetime.now(UTC),
        sku="WHEEL-28",
        quantity=2,
        unit_price="38.50",
    )


def accepted(order_id: uuid.UUID, at: datetime | None = None) -> OrderAccepted:
    return OrderAccepted(**parties(order_id), occurred_at=at or datetime.now(UTC))


async def publish(bootstrap: str, event: Envelope, *, trace_id: str) -> None:
    """Publish as the owning service would: keyed by order, event_type and traceparent headers."""
    await produce(
        bootstrap,
        topic_for(event),
        event.model_dump_json().encode(),
        key=str(event.order_id).encode(),
        headers={"event_type": event.event_type, "traceparent": traceparent(trace_id)},
    )


async def publish_all(
    bootstrap: str, events: list[Envelope], *, trace_id: str | None = None
) -> None:
    """Publish several events at once, in order, on one producer (a record per event, keyed by
    its order): a consumer finds them on the topic together, never half of them."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = []
        for event in events:
            headers = {"event_type": event.event_type}
            if trace_id is not None:
                headers["traceparent"] = traceparent(trace_id)
            sent.append(
                await producer.send(
                    topic_for(event),
                    event.model_dump_json().encode(),
                    key=str(event.order_id).encode(),
                    headers=[(k, v.encode()) for k, v in headers.items()],
                )
            )
        await asyncio.gather(*sent)
    finally:
        await producer.stop()


def alarms_of(records: list[Record], order_id: uuid.UUID) -> list[str]:
    """SLA event types raised for an order's stages, in topic order: ["SlaWarning:acceptance", …]."""
    return [
        f"{r.json['event_type']}:{r.json['stage']}"
        for r in records
        if r.json.get("order_id") == str(order_id)
    ]


async def stage_of(
    client: httpx.AsyncClient, order_id: uuid.UUID, stage: str
) -> dict[str, Any] | None:
    response = await client.get(f"/v1/orders/{order_id}/handoffs")
    if response.status_code != 200:
        return None
    return next(
        (h for h in response.json() if h["stage"] == stage and h["order_id"] == str(order_id)), None
    )


async def run_replay(monitoring: ServiceProcess) -> tuple[int, dict[str, Any], str]:
    """The real replay, as an operator runs it: exit code, its JSON report, its stderr."""
    replay = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "monitoring.replay",
        "--timeout",
        "60",
        env={**os.environ, **monitoring.env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(replay.communicate(), 90)
    assert stdout, stderr.decode()
    return replay.returncode or 0, json.loads(stdout), stderr.decode()
