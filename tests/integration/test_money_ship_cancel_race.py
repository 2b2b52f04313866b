"""A requester cancels while its supplier ships, many times at once, through the public APIs of
order intake, fulfilment and invoicing on the real broker and database.

Every pair must end in exactly one of two states, the same in every service: shipped, the
cancellation refused (by the supplier, or by intake when the shipment reached it first),
delivered and charged in full with no credit; or cancelled, the shipment refused (409), never
invoiced, never credited, and the budget released.
"""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from support import auth, order_body, outbox_drained, poll_http, read_to_end
from support.order_intake import place

pytestmark = pytest.mark.integration

PAIRS = 16
LATE_SHIPMENTS = 3  # of the pairs, shipped only after the cancellation was settled
REQUESTER, SUPPLIER, SKU = "ASSEMBLY", "WHEELS", "WHEEL-28"


def shipped_in_intake(response: httpx.Response) -> bool:
    """Intake's read shows the order shipped."""
    return response.status_code == 200 and response.json()["status"] == "shipped"


def settled(response: httpx.Response) -> bool:
    """Intake's read shows the supplier's settlement of the cancellation request."""
    if response.status_code != 200:
        return False
    types = {entry["event_type"] for entry in response.json()["timeline"]}
    return bool(types & {"WorkCancelled", "CancellationRefused"})


async def race(
    intake: httpx.AsyncClient, fulfilment: httpx.AsyncClient, order_id: str, ship_after: float
) -> tuple[int, int]:
    """Cancel, and ship `ship_after` seconds later (the request travels through intake's outbox
    and the broker, a shipment is one call: staggered, both sides win some): (ship, cancel)."""

    async def ship() -> httpx.Response:
        await asyncio.sleep(ship_after)
        return await fulfilment.post(f"/v1/fulfilments/{order_id}/ship", headers=auth(SUPPLIER))

    shipped, cancel = await asyncio.gather(
        ship(),
        intake.post(
            f"/v1/orders/{order_id}/cancel", json={"reason": "race"}, headers=auth(REQUESTER)
        ),
    )
    return shipped.status_code, cancel.status_code


async def cancel_then_ship(
    intake: httpx.AsyncClient, fulfilment: httpx.AsyncClient, order_id: str
) -> tuple[int, int]:
    """Cancel, and ship once the supplier has settled the request: (ship, cancel)."""
    cancel = await intake.post(
        f"/v1/orders/{order_id}/cancel", json={"reason": "late"}, headers=auth(REQUESTER)
    )
    await poll_http(intake, f"/v1/orders/{order_id}", headers=auth(REQUESTER), until=settled)
    ship = await fulfilment.post(f"/v1/fulfilments/{order_id}/ship", headers=auth(SUPPLIER))
    return ship.status_code, cancel.status_code


async def ship_then_cancel(
    intake: httpx.AsyncClient, fulfilment: httpx.AsyncClient, order_id: str
) -> tuple[int, int]:
    """Ship, and cancel once intake shows the shipment: (ship, cancel)."""
    ship = await fulfilment.post(f"/v1/fulfilments/{order_id}/ship", headers=auth(SUPPLIER))
    await poll_http(
        intake,
        f"/v1/orders/{order_id}",
        headers=auth(REQUESTER),
        until=shipped_in_intake,
    )
    cancel = await intake.post(
        f"/v1/orders/{order_id}/cancel", json={"reason": "too late"}, headers=auth(REQUESTER)
    )
    return ship.status_code, cancel.status_code


async def prepared_order(intake: httpx.AsyncClient, fulfilment: httpx.AsyncClient) -> str:
    """An order placed, accepted and started by its supplier: ready to ship."""
    response = await place(intake, order_body(REQUESTER, SUPPLIER, SKU, quantity=1))
    assert response.status_code == 201, response.text
    order_id: str = response.json()["order_id"]
    await poll_http(
        fulfilment,
        f"/v1/fulfilments/{order_id}",
        headers=auth(SUPPLIER),
        until=lambda r: r.status_code == 200,
    )
    for action in ("accept", "start"):
        done = await fulfilment.post(f"/v1/fulfilments/{order_id}/{action}", headers=auth(SUPPLIER))
        assert done.status_code == 200, done.text
    return order_id


async def test_concurrent_ship_and_cancel_end_delivered_and_charged_or_cancelled_and_free(
    start_service: Any, broker: Any
) -> None:
    intake_service = start_service("order-intake")
    fulfilment_service = start_service("fulfilment")
    invoicing_service = start_service("invoicing")
    item = sample_company().item(SKU)
    assert item is not None
    price = item.transfer_price
    async with (
        httpx.AsyncClient(base_url=intake_service.url, timeout=30) as intake,
        httpx.AsyncClient(base_url=fulfilment_service.url, timeout=30) as fulfilment,
        httpx.AsyncClient(base_url=invoicing_service.url, timeout=30) as invoicing,
    ):
        orders = [await prepared_order(intake, fulfilment) for _ in range(PAIRS)]
        racing, late = orders[:-LATE_SHIPMENTS], orders[-LATE_SHIPMENTS:]
        outcomes = await asyncio.gather(
            *(race(intake, fulfilment, o, ship_after=0.1 * i) for i, o in enumerate(racing))
        )
        # however loaded the machine, some shipments come after their cancellation settled
        outcomes += [await cancel_then_ship(intake, fulfilment, o) for o in late]
        # and one cancellation comes after intake saw the shipment
        orders.append(await prepared_order(intake, fulfilment))
        outcomes.append(await ship_then_cancel(intake, fulfilment, orders[-1]))
        assert outcomes[-1] == (200, 409), "a shipped order can no longer be cancelled"

        shipped, cancelled = [], []
        for order_id, (ship_status, cancel_status) in zip(orders, outcomes, strict=True):
            assert cancel_status in (202, 409), (order_id, cancel_status)
            assert ship_status in (200, 409), (order_id, ship_status)
            if cancel_status == 409:
                # on a loaded machine the shipment can reach intake before the cancellation
                # does: intake refuses it (nothing is asked of the supplier) and the order
                # goes on to be charged in full
                assert ship_status == 200, (order_id, ship_status)
                read = await poll_http(
                    intake,
                    f"/v1/orders/{order_id}",
                    headers=auth(REQUESTER),
                    until=shipped_in_intake,
                )
                types = [entry["event_type"] for entry in read.json()["timeline"]]
                assert "OrderCancelled" not in types, types
                shipped.append(order_id)
                continue
            read = await poll_http(
                intake, f"/v1/orders/{order_id}", headers=auth(REQUESTER), until=settled
            )
            types = [entry["event_type"] for entry in read.json()["timeline"]]
            if ship_status == 200:
                assert "CancellationRefused" in types and "WorkCancelled" not in types, types
                assert read.json()["status"] != "cancelled"
                shipped.append(order_id)
            else:
                assert "WorkCancelled" in types and "CancellationRefused" not in types, types
                assert read.json()["status"] == "cancelled"
                cancelled.append(order_id)
        print(
            f"ship/cancel race: {len(shipped)} shipped, {len(cancelled)} cancelled of {len(orders)}"
        )
        assert shipped and cancelled, "the first shipments win, the late ones are refused"

        for order_id in shipped:  # the requester takes the goods it could not cancel
            receipt = await fulfilment.post(
                f"/v1/orders/{order_id}/receipt", headers=auth(REQUESTER)
            )
            assert receipt.status_code == 200, receipt.text
        for order_id in cancelled:  # nothing to receive
            receipt = await fulfilment.post(
                f"/v1/orders/{order_id}/receipt", headers=auth(REQUESTER)
            )
            assert receipt.status_code == 409, receipt.text

        def invoiced_all(response: httpx.Response) -> bool:
            listed = {i["order_id"] for i in response.json()} if response.status_code == 200 else {}
            return set(shipped) <= set(listed)

        listing = await poll_http(
            invoicing, "/v1/invoices?limit=200", headers=auth(REQUESTER), until=invoiced_all
        )
        invoices = {i["order_id"]: i for i in listing.json()}
        assert not set(cancelled) & set(invoices), "a cancelled order was invoiced"
        for order_id in shipped:
            assert Decimal(invoices[order_id]["total"]) == price, invoices[order_id]
            assert invoices[order_id]["credit_notes"] == [], invoices[order_id]

        await outbox_drained(start_service.database_url, "invoicing")
        records = await read_to_end(broker.bootstrap_servers, [topics.INVOICING])
        credited = [r.json for r in records if r.headers.get("event_type") == "CreditNoteIssued"]
        assert credited == [], "a cancellation (or anything else here) was credited"
        invoiced = [
            r.json["order_id"] for r in records if r.headers.get("event_type") == "InvoiceIssued"
        ]
        assert sorted(invoiced) == sorted(shipped), "one invoice per delivered order, none else"
