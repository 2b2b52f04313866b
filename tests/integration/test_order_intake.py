"""Order intake over real HTTP, broker and database."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, events_of, has_event, order_body, read_records
from support.order_intake import settle_cancellation

pytestmark = pytest.mark.integration


def key() -> str:
    return f"key-{uuid.uuid4()}"


async def test_placed_order_is_stored_priced_and_published(start_service, broker) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        response = await client.post(
            "/v1/orders", json=order_body(quantity=3), headers={"Idempotency-Key": key()}
        )
        assert response.status_code == 201, response.text
        order = response.json()
        assert order["status"] == "placed"
        assert order["total"] == "313.50"  # 3 x FRAME-CITY at cost + 10 %
        assert order["lines"] == [{"sku": "FRAME-CITY", "quantity": 3, "unit_price": "104.50"}]
        fetched = await client.get(f"/v1/orders/{order['order_id']}")
        assert fetched.json()["timeline"][0]["event_type"] == "OrderPlaced"

    order_id = order["order_id"]
    records = await read_records(
        broker.bootstrap_servers, [topics.ORDERS], until=has_event(order_id, "OrderPlaced")
    )
    [placed] = events_of(records, order_id)
    assert placed.key == order_id.encode()
    assert placed.headers["event_type"] == "OrderPlaced"
    assert placed.trace_id is not None
    body = placed.json
    assert body["root_order_id"] == order_id
    assert body["producer"] == "order-intake"
    assert body["lines"][0]["unit_price"] == "104.50"
    assert body["requester"] == "ASSEMBLY" and body["supplier"] == "FRAMES"


async def test_idempotency_key_replays_and_conflicts(start_service) -> None:
    intake = start_service("order-intake")
    k = key()
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        first = await client.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": k})
        replay = await client.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": k})
        clash = await client.post(
            "/v1/orders", json=order_body(quantity=5), headers={"Idempotency-Key": k}
        )
    assert first.status_code == 201
    assert replay.status_code == 200
    assert replay.json()["order_id"] == first.json()["order_id"]
    assert clash.status_code == 409
    assert clash.headers["content-type"].startswith("application/problem+json")
    assert "different request body" in clash.json()["detail"]


async def test_concurrent_retries_make_exactly_one_order(start_service, broker) -> None:
    intake = start_service("order-intake")
    k = key()
    async with httpx.AsyncClient(
        base_url=intake.url, timeout=30, headers=auth("ASSEMBLY")
    ) as client:
        responses = await asyncio.gather(
            *(
                client.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": k})
                for _ in range(12)
            )
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 11 + [201]
    order_ids = {r.json()["order_id"] for r in responses}
    assert len(order_ids) == 1
    order_id = order_ids.pop()
    await read_records(
        broker.bootstrap_servers, [topics.ORDERS], until=has_event(order_id, "OrderPlaced")
    )
    await asyncio.sleep(1.0)  # give a duplicate every chance to show up
    records = await read_records(
        broker.bootstrap_servers, [topics.ORDERS], until=has_event(order_id, "OrderPlaced")
    )
    assert len(events_of(records, order_id)) == 1


BAD_ORDERS = [
    (
        {
            "requester": "ASSEMBLY",
            "supplier": "FRAMES",
            "lines": [{"sku": "FRAME-CITY", "quantity": "many"}],
        },
        "lines.0.quantity",
    ),
    ({"requester": "ASSEMBLY", "supplier": "FRAMES", "lines": []}, "lines"),
    ({"requester": "ASSEMBLY", "lines": [{"sku": "FRAME-CITY", "quantity": 1}]}, "supplier"),
    (order_body(sku="NO-SUCH-SKU"), "lines.0.sku"),
    (order_body(sku="WHEEL-28"), "lines.0.sku"),
    (order_body(supplier="ASSEMBLY", sku="BIKE-CITY"), "supplier"),
    (order_body(needed_by="2000-01-01"), "needed_by"),
    (order_body(quantity=10_001), "lines.0.quantity"),
]


async def test_bad_orders_get_problem_json_naming_the_field(start_service) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        for body, field in BAD_ORDERS:
            response = await client.post(
                "/v1/orders", json=body, headers={"Idempotency-Key": key()}
            )
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["status"] == 422
            assert field in [error["field"] for error in problem["errors"]], (field, problem)
            assert problem["detail"], problem
            assert "Traceback" not in response.text


async def test_missing_idempotency_key_is_refused(start_service) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        response = await client.post("/v1/orders", json=order_body())
    assert response.status_code == 422
    assert "Idempotency-Key" in [e["field"] for e in response.json()["errors"]]


async def test_cancel_asks_the_supplier_and_the_order_follows_its_settlement(
    start_service, broker
) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        order = (
            await client.post("/v1/orders", json=order_body(), headers={"Idempotency-Key": key()})
        ).json()
        requested = await client.post(
            f"/v1/orders/{order['order_id']}/cancel", json={"reason": "plan changed"}
        )
        again = await client.post(f"/v1/orders/{order['order_id']}/cancel")
        missing = await client.post(f"/v1/orders/{uuid.uuid4()}/cancel")
        assert requested.status_code == 202, requested.text
        answer = requested.json()
        assert (answer["order_id"], answer["status"]) == (
            order["order_id"],
            "cancellation_requested",
        )
        # a request: the order stays as it is until the supplier settles
        assert answer["order_status"] == "placed" == answer["order"]["status"]
        assert answer["order"]["cancellation"]["status"] == "requested"
        assert again.status_code == 202 and again.json()["status"] == "cancellation_requested"
        assert missing.status_code == 404

        refused = await settle_cancellation(
            broker.bootstrap_servers, client, order, refused_because="already shipped"
        )
    assert refused["status"] == "placed"
    assert refused["cancellation"]["status"] == "refused"
    assert refused["cancellation"]["reason"] == "already shipped"
    assert [(t["event_type"], t["detail"]) for t in refused["timeline"]][-1] == (
        "CancellationRefused",
        "already shipped",
    )
    records = await read_records(
        broker.bootstrap_servers,
        [topics.ORDERS],
        until=has_event(order["order_id"], "OrderCancelled"),
    )
    # asked twice while pending: one request
    placed, cancel = events_of(records, order["order_id"])
    assert cancel.json["reason"] == "plan changed"
    assert cancel.json["causation_id"] == placed.json["event_id"]
    assert cancel.trace_id == placed.trace_id  # the cancel joins the order's trace


async def test_reference_data_is_served(start_service) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, headers=auth("ASSEMBLY")) as client:
        departments = (await client.get("/v1/departments")).json()
        catalogue = (await client.get("/v1/catalogue")).json()
        openapi = (await client.get("/openapi.json")).json()
        asyncapi = (await client.get("/asyncapi.json")).json()
    assert len(departments) >= 8
    assert {item["sku"] for item in catalogue} >= {"EBIKE-CITY", "FRAME-CITY", "TUBE-AL-6061"}
    assert "/v1/orders" in openapi["paths"]
    assert any(topics.ORDERS in name for name in asyncapi["channels"]) or topics.ORDERS in str(
        asyncapi
    )


async def test_departments_act_only_for_themselves(start_service) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url) as client:
        anonymous = await client.post(
            "/v1/orders", json=order_body(), headers={"Idempotency-Key": key()}
        )
        forged = await client.post(
            "/v1/orders",
            json=order_body(),
            headers={"Idempotency-Key": key(), "Authorization": "Bearer guessed"},
        )
        for_another = await client.post(
            "/v1/orders",
            json=order_body(requester="MARKETING", supplier="RETAIL_OPS", sku="DEMO-BIKE-SET"),
            headers={"Idempotency-Key": key(), **auth("ASSEMBLY")},
        )
        placed = await client.post(
            "/v1/orders", json=order_body(), headers={"Idempotency-Key": key(), **auth("ASSEMBLY")}
        )
        order_id = placed.json()["order_id"]
        by_supplier = await client.get(f"/v1/orders/{order_id}", headers=auth("FRAMES"))
        by_stranger = await client.get(f"/v1/orders/{order_id}", headers=auth("MARKETING"))
        cancel_by_supplier = await client.post(
            f"/v1/orders/{order_id}/cancel", headers=auth("FRAMES")
        )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == "Bearer"
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert forged.status_code == 401
    assert for_another.status_code == 403
    assert "ASSEMBLY cannot place orders for MARKETING" in for_another.json()["detail"]
    assert placed.status_code == 201
    assert by_supplier.status_code == 200
    assert by_stranger.status_code == 404
    assert cancel_by_supplier.status_code == 403
