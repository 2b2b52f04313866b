"""Helpers for the fulfilment production-chain tests (plain clients, no project code)."""

from __future__ import annotations

import secrets
from typing import Any

from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_devstack.services import ServiceProcess

from support import Record, produce, provide_company
from support.events import order_placed
from support.metrics import consumer_outcomes, metric_value


async def start_fulfilment(start_service: Any, bootstrap: str, **options: Any) -> ServiceProcess:
    """Fulfilment, started without order intake, with the sample company's catalogue
    published as its owner would (fulfilment reads no company file)."""
    fulfilment: ServiceProcess = start_service("fulfilment", **options)
    await provide_company(bootstrap, fulfilment.url, sample_company())
    return fulfilment


def transfer_price(sku: str) -> str:
    item = sample_company().item(sku)
    assert item is not None
    return str(item.transfer_price)


def new_traceparent() -> tuple[str, str]:
    """(trace id, traceparent) of a sampled root span, as the intake request would start it."""
    trace_id = secrets.token_hex(16)
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-01"


async def place_root_order(
    bootstrap: str,
    *,
    sku: str,
    quantity: int,
    requester: str,
    supplier: str,
    traceparent: str | None = None,
) -> dict[str, Any]:
    """Publish an OrderPlaced as order-intake does; returns the event as JSON."""
    event = order_placed(
        producer="order-intake",
        supplier=supplier,
        requester=requester,
        sku=sku,
        quantity=quantity,
        unit_price=transfer_price(sku),
    )
    order_id = event.order_id
    headers = {"event_type": "OrderPlaced"}
    if traceparent:
        headers["traceparent"] = traceparent
    await produce(
        bootstrap,
        topics.ORDERS,
        event.model_dump_json().encode(),
        key=str(order_id).encode(),
        headers=headers,
    )
    return event.model_dump(mode="json")


def of_tree(records: list[Record], root_order_id: str) -> list[Record]:
    return [
        r
        for r in records
        if r.value.startswith(b"{") and r.json.get("root_order_id") == root_order_id
    ]


def by_order(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    """Each order's events in topic order (one partition per order key)."""
    orders: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
        orders.setdefault(record.json["order_id"], []).append(record.json)
    return orders


def orders_consumed(metrics_text: str, outcome: str) -> int:
    """Records of the orders topic fulfilment's consumer counted with `outcome` (applied,
    duplicate, retried, ...), per its /metrics."""
    return consumer_outcomes(
        metrics_text, service="fulfilment", outcome=outcome, topic=topics.ORDERS
    )


def without_effect(metrics_text: str) -> float:
    """How many consumed records fulfilment had nothing (more) to do for: the ones its inbox
    recognised as already applied, and the ones of event types it has no handler for (skipped
    by their header, never claimed)."""
    return sum(
        consumer_outcomes(metrics_text, service="fulfilment", outcome=outcome)
        for outcome in ("duplicate", "ignored")
    )


def events_published(metrics_text: str) -> float:
    return metric_value(metrics_text, "supplychain_outbox_published_total", service="fulfilment")
