"""Invoicing over the real broker and database: one invoice per delivered order."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from supplychain_contracts import OrderDelivered, OrderLine, topics
from support import auth, events_of, has_event, poll_http, produce, read_records

pytestmark = pytest.mark.integration


def delivered(order_id: uuid.UUID, **overrides) -> OrderDelivered:
    fields = {
        "order_id": order_id,
        "root_order_id": order_id,
        "producer": "test",
        "supplier": "METALWORKS",
        "requester": "FRAMES",
        "lines": (
            OrderLine(sku="TUBE-AL-6061", quantity=3, unit_price="13.50"),
            OrderLine(sku="DROPOUT-STEEL", quantity=1, unit_price="6.48"),
        ),
    }
    return OrderDelivered(**{**fields, **overrides})


async def test_delivered_order_is_invoiced_once_even_when_redelivered(
    start_service, broker
) -> None:
    invoicing = start_service("invoicing")
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

    records = await read_records(
        broker.bootstrap_servers,
        [topics.INVOICING],
        until=has_event(str(order_id), "InvoiceIssued"),
    )
    await asyncio.sleep(1.0)
    records = await read_records(
        broker.bootstrap_servers,
        [topics.INVOICING],
        until=has_event(str(order_id), "InvoiceIssued"),
    )
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
