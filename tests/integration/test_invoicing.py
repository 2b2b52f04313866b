"""Invoicing over the real broker and database: one invoice per delivered order."""

from __future__ import annotations

import uuid

import httpx
import pytest
from supplychain_contracts import OrderDelivered, OrderLine, topics
from supplychain_contracts.company import sample_company
from support import (
    auth,
    events_of,
    has_event,
    outbox_drained,
    poll_http,
    produce,
    provide_company,
    read_records,
    read_to_end,
)
from support.events import order_delivered
from support.invoicing import consumed, outcomes, start_invoicing
from support.metrics import consumer_outcomes

pytestmark = pytest.mark.integration


def delivered(order_id: uuid.UUID, **overrides) -> OrderDelivered:
    fields = {
        "order_id": order_id,
        "supplier": "METALWORKS",
        "requester": "FRAMES",
        "lines": (
            OrderLine(sku="TUBE-AL-6061", quantity=3, unit_price="13.50"),
            OrderLine(sku="DROPOUT-STEEL", quantity=1, unit_price="6.48"),
        ),
    }
    return order_delivered(**{**fields, **overrides})


async def test_delivered_order_is_invoiced_once_even_when_redelivered(
    start_service, broker
) -> None:
    invoicing = await start_invoicing(start_service, broker.bootstrap_servers)
    order_id = uuid.uuid4()
    event = delivered(order_id)
    payload = event.model_dump_json().encode()
    for _ in range(2):  # a redelivery of the same event
        await produce(
            broker.bootstrap_servers, topics.FULFILMENT, payload, key=str(order_id).encode()
        )
    # and a duplicate delivery with another event id (a replayed command upstream)
    again = delivered(order_id).model_dump_json().encode()
    await produce(broker.bootstrap_servers, topics.FULFILMENT, again, key=str(order_id).encode())

    await read_records(
        broker.bootstrap_servers,
        [topics.INVOICING],
        until=has_event(str(order_id), "InvoiceIssued"),
    )
    async with httpx.AsyncClient(base_url=invoicing.url) as client:
        # all three records consumed; the exact redelivery was the inbox's, not a table's
        metrics = await poll_http(
            client, "/metrics", until=lambda r: consumed(r.text, topic=topics.FULFILMENT) == 3
        )
    assert _fulfilment_outcomes(metrics.text, "duplicate") == 1
    assert _fulfilment_outcomes(metrics.text, "applied") == 2
    await outbox_drained(start_service.database_url, "invoicing")
    records = await read_to_end(broker.bootstrap_servers, [topics.INVOICING])
    [issued] = events_of(records, str(order_id))
    invoice = issued.json
    assert invoice["total"] == "46.98"  # 3 x 13.50 + 6.48
    assert invoice["causation_id"] == str(event.event_id)
    assert invoice["period"] == event.occurred_at.strftime("%Y-%m")

    async with httpx.AsyncClient(base_url=invoicing.url, headers=auth("FRAMES")) as client:
        listed = await poll_http(
            client, "/v1/invoices?department=FRAMES", until=lambda r: len(r.json()) >= 1
        )
        assert [i["order_id"] for i in listed.json()] == [str(order_id)]
        one = (await client.get(f"/v1/invoices/{invoice['invoice_id']}")).json()
        missing = await client.get(f"/v1/invoices/{uuid.uuid4()}")
    assert one["supplier_cost_centre"] == "CC-1100"
    assert one["requester_cost_centre"] == "CC-1300"
    assert [line["amount"] for line in one["lines"]] == ["40.50", "6.48"]
    assert missing.status_code == 404


def _fulfilment_outcomes(metrics_text: str, outcome: str) -> int:
    return consumer_outcomes(
        metrics_text, service="invoicing", outcome=outcome, topic=topics.FULFILMENT
    )


async def test_a_delivery_before_its_departments_waits_for_them_and_invents_no_party(
    start_service, broker
) -> None:
    invoicing = start_service("invoicing")  # it has learnt no department yet
    order_id = uuid.uuid4()
    await produce(
        broker.bootstrap_servers,
        topics.FULFILMENT,
        delivered(order_id).model_dump_json().encode(),
        key=str(order_id).encode(),
        headers={"event_type": "OrderDelivered"},
    )
    async with httpx.AsyncClient(base_url=invoicing.url, headers=auth("FRAMES")) as client:
        # the consumer retries the delivery as a transient failure: no invoice yet
        await poll_http(client, "/metrics", until=lambda r: outcomes(r.text, "retried") >= 2)
        assert (await client.get("/v1/invoices?department=FRAMES")).json() == []

        await provide_company(broker.bootstrap_servers, invoicing.url, sample_company())
        listed = await poll_http(
            client, "/v1/invoices?department=FRAMES", until=lambda r: len(r.json()) >= 1
        )
        metrics = (await client.get("/metrics")).text
    [invoice] = listed.json()
    assert invoice["order_id"] == str(order_id)
    assert (invoice["supplier_cost_centre"], invoice["requester_cost_centre"]) == (
        "CC-1100",
        "CC-1300",
    )
    assert outcomes(metrics, "dead_lettered") == 0
