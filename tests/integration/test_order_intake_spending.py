"""Budgets, approval, employee purchases and order listing, over real HTTP, broker and database.

Sample company figures used here: LOGISTICS has a monthly budget of 30000.00 and refuses
orders over it; FACILITIES (20000.00) only warns; MARKETING orders above 10000.00 wait for
approval; employee E-1001 of ASSEMBLY has a yearly allowance of 2000.00 and the employee
shop gives 30 % off (SHOP-BIKE-CITY: 549.00 list, 384.30 to employees).
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, events_of, has_event, order_body, read_records
from support.order_intake import key, place, refused_field, settle_cancellation

pytestmark = pytest.mark.integration

# 150 workshop cleans at 140.00 = 21000.00: one fits LOGISTICS' 30000.00, two do not.
CLEANS = order_body(
    requester="LOGISTICS", supplier="FACILITIES", sku="WORKSHOP-CLEAN", quantity=150
)
# 1200 pallet moves at 18.00 = 21600.00: over FACILITIES' 20000.00, which only warns.
PALLETS = order_body(requester="FACILITIES", supplier="LOGISTICS", sku="PALLET-MOVE", quantity=1200)


async def test_budget_refuses_warns_and_holds_under_concurrent_orders(
    start_service, broker
) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        together = await asyncio.gather(*(place(client, CLEANS) for _ in range(4)))
        statuses = sorted(r.status_code for r in together)
        assert statuses == [201, 422, 422, 422], [r.text for r in together]
        [accepted] = [r.json() for r in together if r.status_code == 201]
        assert accepted["total"] == "21000.00" and accepted["warnings"] == []
        refused = [r for r in together if r.status_code == 422]
        for response in refused:
            assert refused_field(response) == "total"
            detail = response.json()["detail"]
            assert "monthly budget of 30000.00 EUR" in detail, detail
            assert "21000.00 EUR already committed" in detail, detail
            assert "takes LOGISTICS to 42000.00 EUR" in detail, detail

        # a cancelled order no longer counts against the budget
        cancelled = await client.post(
            f"/v1/orders/{accepted['order_id']}/cancel", headers=auth("LOGISTICS")
        )
        assert cancelled.status_code == 202, cancelled.text
        # ... once the supplier settled it: until then the budget stays committed
        assert (await place(client, CLEANS)).status_code == 422
        await settle_cancellation(broker.bootstrap_servers, client, accepted)
        assert (await place(client, CLEANS)).status_code == 201

        # FACILITIES only warns: accepted, with the budget figures in `warnings`
        k = key()
        warned = await place(client, PALLETS, idempotency_key=k)
        assert warned.status_code == 201, warned.text
        order = warned.json()
        assert order["status"] == "placed"
        [warning] = order["warnings"]
        assert "over its monthly budget of 20000.00 EUR" in warning, warning
        replay = await place(client, PALLETS, idempotency_key=k)
        assert replay.status_code == 200
        assert replay.json()["warnings"] == order["warnings"]


async def test_orders_above_the_threshold_wait_for_a_second_key(start_service, broker) -> None:
    intake = start_service("order-intake")
    big = order_body(requester="MARKETING", supplier="RETAIL_OPS", sku="DEMO-BIKE-SET", quantity=11)
    small = order_body(
        requester="MARKETING", supplier="RETAIL_OPS", sku="DEMO-BIKE-SET", quantity=1
    )
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        pending = await place(client, big, key_number=1)
        assert pending.status_code == 201, pending.text
        order = pending.json()
        order_id = order["order_id"]
        assert order["status"] == "pending_approval"
        assert order["total"] == "10395.00"  # 11 x 945.00, over the 10000.00 threshold
        assert order["timeline"] == [] and order["placed_by_key_id"] == "marketing-1"
        # the supplier does not know of it yet
        hidden = await client.get(f"/v1/orders/{order_id}", headers=auth("RETAIL_OPS"))
        assert hidden.status_code == 404

        # an order placed later (below the threshold) is published; the pending one is not
        later = await place(client, small)
        assert later.status_code == 201 and later.json()["status"] == "placed"
        records = await read_records(
            broker.bootstrap_servers,
            [topics.ORDERS],
            until=has_event(later.json()["order_id"], "OrderPlaced"),
        )
        assert events_of(records, order_id) == []

        same_key = await client.post(f"/v1/orders/{order_id}/approve", headers=auth("MARKETING"))
        assert same_key.status_code == 403, same_key.text
        assert refused_field(same_key) == "Authorization"
        stranger = await client.post(f"/v1/orders/{order_id}/approve", headers=auth("ASSEMBLY"))
        assert stranger.status_code == 404
        supplier = await client.post(f"/v1/orders/{order_id}/approve", headers=auth("RETAIL_OPS"))
        assert supplier.status_code == 404

        approved = await client.post(f"/v1/orders/{order_id}/approve", headers=auth("MARKETING", 2))
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "placed"
        assert approved.json()["approved_by_key_id"] == "marketing-2"
        assert [t["event_type"] for t in approved.json()["timeline"]] == ["OrderPlaced"]
        twice = await client.post(f"/v1/orders/{order_id}/approve", headers=auth("MARKETING", 2))
        assert twice.status_code == 409
        assert "placed" in twice.json()["detail"]
        visible = await client.get(f"/v1/orders/{order_id}", headers=auth("RETAIL_OPS"))
        assert visible.status_code == 200

        # a pending order withdrawn before approval was never announced
        withdrawn = (await place(client, big)).json()
        assert withdrawn["status"] == "pending_approval"
        cancelled = await client.post(
            f"/v1/orders/{withdrawn['order_id']}/cancel", headers=auth("MARKETING")
        )
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        too_late = await client.post(
            f"/v1/orders/{withdrawn['order_id']}/approve", headers=auth("MARKETING", 2)
        )
        assert too_late.status_code == 409
        marker = await place(client, small)

    records = await read_records(
        broker.bootstrap_servers,
        [topics.ORDERS],
        until=lambda rs: (
            has_event(order_id, "OrderPlaced")(rs)
            and has_event(marker.json()["order_id"], "OrderPlaced")(rs)
        ),
    )
    [placed] = events_of(records, order_id)
    assert placed.json["lines"] == [
        {"sku": "DEMO-BIKE-SET", "quantity": 11, "unit_price": "945.00"}
    ]
    assert placed.json["requester"] == "MARKETING" and placed.json["supplier"] == "RETAIL_OPS"
    assert placed.json["event_id"] == approved.json()["timeline"][0]["event_id"]
    assert events_of(records, withdrawn["order_id"]) == []


async def test_employee_purchases_within_the_yearly_allowance(start_service, broker) -> None:
    intake = start_service("order-intake")

    def shop(quantity: int, **extra: str) -> dict[str, object]:
        fields = {"employee_id": "E-1001", **extra}
        return order_body(
            requester="ASSEMBLY",
            supplier="EMPLOYEE_SHOP",
            sku="SHOP-BIKE-CITY",
            quantity=quantity,
            **fields,
        )

    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        bought = await place(client, shop(5))
        assert bought.status_code == 201, bought.text
        assert bought.json()["lines"][0]["unit_price"] == "384.30"
        assert bought.json()["total"] == "1921.50"
        assert bought.json()["employee_id"] == "E-1001"

        beyond = await place(client, shop(1))
        assert beyond.status_code == 422
        assert refused_field(beyond) == "employee_id"
        detail = beyond.json()["detail"]
        assert "yearly allowance of 2000.00 EUR" in detail and "78.50 EUR left" in detail, detail

        other_department = await place(client, shop(1, employee_id="E-1002"))
        assert other_department.status_code == 422
        assert refused_field(other_department) == "employee_id"
        assert "E-1002 is not an employee of ASSEMBLY" in other_department.json()["detail"]
        unknown = await place(client, shop(1, employee_id="E-9999"))
        assert refused_field(unknown) == "employee_id"
        not_a_shop = await place(client, order_body(employee_id="E-1001"))
        assert not_a_shop.status_code == 422 and refused_field(not_a_shop) == "supplier"

        # a cancellation the supplier settled gives the allowance back
        await client.post(
            f"/v1/orders/{bought.json()['order_id']}/cancel", headers=auth("ASSEMBLY")
        )
        await settle_cancellation(broker.bootstrap_servers, client, bought.json())
        assert (await place(client, shop(1))).status_code == 201


async def test_listing_pages_through_the_callers_orders(start_service, broker) -> None:
    intake = start_service("order-intake")
    async with httpx.AsyncClient(base_url=intake.url, timeout=30) as client:
        frames = [(await place(client, order_body(quantity=2))).json() for _ in range(3)]
        wheels = [
            (await place(client, order_body(supplier="WHEELS", sku="WHEEL-28", quantity=4))).json()
            for _ in range(2)
        ]
        await place(
            client, order_body(requester="MARKETING", supplier="RETAIL_OPS", sku="DEMO-BIKE-SET")
        )
        await client.post(f"/v1/orders/{frames[0]['order_id']}/cancel", headers=auth("ASSEMBLY"))
        await settle_cancellation(broker.bootstrap_servers, client, frames[0])
        newest_first = [o["order_id"] for o in reversed(frames + wheels)]

        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = await client.get("/v1/orders", params=params, headers=auth("ASSEMBLY"))
            assert page.status_code == 200, page.text
            seen += [o["order_id"] for o in page.json()["orders"]]
            pages += 1
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert seen == newest_first
        assert pages == 3

        async def ids(**params: object) -> list[str]:
            response = await client.get("/v1/orders", params=params, headers=auth("ASSEMBLY"))
            assert response.status_code == 200, response.text
            return [o["order_id"] for o in response.json()["orders"]]

        assert await ids(supplier="WHEELS") == [o["order_id"] for o in reversed(wheels)]
        assert await ids(status="cancelled") == [frames[0]["order_id"]]
        assert await ids(since="2999-01-01T00:00:00Z") == []
        assert await ids(since=frames[0]["created_at"]) == newest_first
        bad = await client.get(
            "/v1/orders", params={"cursor": "not-a-cursor"}, headers=auth("ASSEMBLY")
        )
        assert bad.status_code == 422 and refused_field(bad) == "cursor"
        theirs = await client.get("/v1/orders", headers=auth("MARKETING"))
        assert len(theirs.json()["orders"]) == 1
        assert theirs.json()["orders"][0]["requester"] == "MARKETING"
