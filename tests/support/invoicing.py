"""Builders and probes for the invoicing integration tests (contract models, real broker)."""

from __future__ import annotations

import re
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
    return OrderPlaced(
        order_id=order_id,
        root_order_id=root_order_id or order_id,
        producer="test",
        supplier=supplier,
        requester=requester,
        lines=lines,
        priority=priority,
        employee_id=employee_id,
    )


def delivered(order: OrderPlaced) -> OrderDelivered:
    return OrderDelivered(
        order_id=order.order_id,
        root_order_id=order.root_order_id,
        producer="test",
        supplier=order.supplier,
        requester=order.requester,
        employee_id=order.employee_id,
        lines=order.lines,
        currency=order.currency,
    )


def breached(order: OrderPlaced, stage: Stage = Stage.FULFILMENT) -> SlaBreached:
    now = utc_now()
    return SlaBreached(
        order_id=order.order_id,
        root_order_id=order.root_order_id,
        producer="test",
        supplier=order.supplier,
        requester=order.requester,
        stage=stage,
        started_at=now - timedelta(seconds=700),
        deadline=now - timedelta(seconds=100),
        target_seconds=600,
    )


def cancelled(order: OrderPlaced) -> OrderCancelled:
    """The requester's cancellation request (order intake's event): it credits nothing."""
    return OrderCancelled(
        order_id=order.order_id,
        root_order_id=order.root_order_id,
        producer="test",
        supplier=order.supplier,
        requester=order.requester,
        reason="no longer needed",
    )


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


CONSUMED = re.compile(
    r"^supplychain_consumer_messages_total\{(?P<labels>[^}]*)\} (?P<value>[0-9.e+]+)$", re.M
)


def outcomes(metrics_text: str, outcome: str) -> int:
    """How many records invoicing's consumer counted with `outcome` (retried, dead_lettered…)."""
    return int(
        sum(
            float(match["value"])
            for match in CONSUMED.finditer(metrics_text)
            if 'service="invoicing"' in match["labels"]
            and f'outcome="{outcome}"' in match["labels"]
        )
    )


def consumed(metrics_text: str, *, topic: str | None = None) -> int:
    """Records invoicing finished with (applied, duplicate or ignored), per its /metrics: of
    `topic`, or (None) of the order flow, leaving out the reference data it learnt."""
    count = 0.0
    for match in CONSUMED.finditer(metrics_text):
        labels = match["labels"]
        if 'service="invoicing"' not in labels:
            continue
        if topic is not None and f'topic="{topic}"' not in labels:
            continue
        if topic is None and f'topic="{topics.REFERENCE}"' in labels:
            continue
        if any(f'outcome="{o}"' in labels for o in ("applied", "duplicate", "ignored")):
            count += float(match["value"])
    return int(count)


async def wait_consumed(
    client: httpx.AsyncClient, at_least: int, *, topic: str | None = None, timeout: float = 60
) -> None:
    await poll_http(
        client,
        "/metrics",
        until=lambda r: consumed(r.text, topic=topic) >= at_least,
        timeout=timeout,
    )
