"""Builders and probes for the invoicing integration tests (contract models, real broker)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from supplychain_contracts import (
    CancellationRefused,
    Envelope,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    Priority,
    SlaBreached,
    Stage,
    WorkCancelled,
    follow_up,
    topic_for,
    topics,
    utc_now,
)
from supplychain_contracts.company import sample_company
from supplychain_devstack.services import ServiceProcess

from support import poll_http, produce, provide_company
from support.events import order_placed, sla_breached
from support.metrics import CONSUMER_MESSAGES, consumer_outcomes, samples


async def start_invoicing(start_service: Any, bootstrap: str, **options: Any) -> ServiceProcess:
    """Invoicing, started without order intake, with the sample company's departments
    published as their owner would (invoicing reads no company file)."""
    invoicing: ServiceProcess = start_service("invoicing", **options)
    await provide_company(bootstrap, invoicing.url, sample_company())
    return invoicing


def placed(
    order_id: uuid.UUID,
    *,
    supplier: str,
    requester: str,
    lines: tuple[OrderLine, ...],
    root_order_id: uuid.UUID | None = None,
    priority: Priority = Priority.STANDARD,
    employee_id: str | None = None,
) -> OrderPlaced:
    return order_placed(
        order_id=order_id,
        root_order_id=root_order_id,
        supplier=supplier,
        requester=requester,
        lines=lines,
        priority=priority,
        employee_id=employee_id,
    )


def delivered(order: OrderPlaced) -> OrderDelivered:
    return follow_up(
        order, OrderDelivered, producer="test", lines=order.lines, currency=order.currency
    )


def breached(order: OrderPlaced, stage: Stage = Stage.FULFILMENT) -> SlaBreached:
    return sla_breached(
        order, stage=stage, deadline=utc_now() - timedelta(seconds=100), producer="test"
    )


def cancelled(order: OrderPlaced) -> OrderCancelled:
    """The requester's cancellation request (order intake's event): it credits nothing."""
    return follow_up(order, OrderCancelled, producer="test", reason="no longer needed")


def work_cancelled(order: OrderPlaced) -> WorkCancelled:
    """The supplier's fulfilment settled the cancellation: the order is never charged."""
    return follow_up(order, WorkCancelled, producer="fulfilment", reason="no longer needed")


def cancellation_refused(order: OrderPlaced) -> CancellationRefused:
    """The supplier's fulfilment refused the cancellation: the order is charged in full."""
    return follow_up(order, CancellationRefused, producer="fulfilment", reason="already shipped")


def duplicate(event: Envelope) -> Envelope:
    """The same fact with another event id (a replayed command upstream)."""
    return event.model_copy(update={"event_id": uuid.uuid4()})


async def publish(bootstrap: str, *events: Envelope) -> None:
    for event in events:
        await produce(
            bootstrap,
            topic_for(event),
            event.model_dump_json().encode(),
            key=str(event.order_id).encode(),
            headers={"event_type": event.event_type},
        )


def outcomes(metrics_text: str, outcome: str) -> int:
    """How many records invoicing's consumer counted with `outcome` (retried, dead_lettered…)."""
    return consumer_outcomes(metrics_text, service="invoicing", outcome=outcome)


def consumed(metrics_text: str, *, topic: str | None = None) -> int:
    """Records invoicing finished with (applied, duplicate or ignored), per its /metrics: of
    `topic`, or (None) of the order flow, leaving out the reference data it learnt."""
    finished = [
        sample
        for sample in samples(metrics_text, CONSUMER_MESSAGES, service="invoicing")
        if sample.labels["outcome"] in ("applied", "duplicate", "ignored")
    ]
    if topic is None:
        return int(sum(s.value for s in finished if s.labels["topic"] != topics.REFERENCE))
    return int(sum(s.value for s in finished if s.labels["topic"] == topic))


async def wait_consumed(
    client: httpx.AsyncClient, at_least: int, *, topic: str | None = None, timeout: float = 60
) -> None:
    await poll_http(
        client,
        "/metrics",
        until=lambda r: consumed(r.text, topic=topic) >= at_least,
        timeout=timeout,
    )
