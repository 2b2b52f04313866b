"""Fulfilment over the real broker and database: queue, state machine, redelivery."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from support import (
    auth,
    events_of,
    has_event,
    placed_event_json,
    poll_http,
    produce,
    provide_company,
    read_records,
)
from support.fulfilment import orders_consumed, start_fulfilment

pytestmark = pytest.mark.integration


async def _receive(broker, service, client: httpx.AsyncClient) -> tuple[str, dict]:
    # WHEEL-28 has no bill of materials: these tests are about one order's own state machine
    order_id, payload = placed_event_json(supplier="WHEELS", sku="WHEEL-28", unit_price="38.50")
    await produce(
        broker.bootstrap_servers,
        topics.ORDERS,
        payload,
        key=order_id.encode(),
        headers={"event_type": "OrderPlaced"},
    )
    await poll_http(
        client,
        "/v1/departments/WHEELS/queue",
        until=lambda r: any(i["order_id"] == order_id for i in r.json()),
    )
    return order_id, json.loads(payload)


async def test_order_walks_the_state_machine_with_causation_chain(start_service, broker) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, placed = await _receive(broker, fulfilment, client)
        for action in ("accept", "start", "ship"):
            response = await client.post(f"/v1/fulfilments/{order_id}/{action}")
            assert response.status_code == 200, response.text
        receipt = await client.post(f"/v1/orders/{order_id}/receipt", headers=auth("ASSEMBLY"))
        assert receipt.json()["status"] == "delivered"
        queue = (await client.get("/v1/departments/WHEELS/queue")).json()
        assert order_id not in [item["order_id"] for item in queue]

    records = await read_records(
        broker.bootstrap_servers, [topics.FULFILMENT], until=has_event(order_id, "OrderDelivered")
    )
    events = [r.json for r in events_of(records, order_id)]
    assert [e["event_type"] for e in events] == [
        "OrderAccepted",
        "WorkStarted",
        "OrderShipped",
        "OrderDelivered",
    ]
    causes = [placed["event_id"]] + [e["event_id"] for e in events[:-1]]
    assert [e["causation_id"] for e in events] == causes
    assert {e["root_order_id"] for e in events} == {order_id}
    assert events[-1]["lines"] == placed["lines"]
    assert all(e["producer"] == "fulfilment" for e in events)


async def test_illegal_moves_are_refused_with_the_current_state(start_service, broker) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, _ = await _receive(broker, fulfilment, client)
        ship_early = await client.post(f"/v1/fulfilments/{order_id}/ship")
        receipt_early = await client.post(
            f"/v1/orders/{order_id}/receipt", headers=auth("ASSEMBLY")
        )
        unknown = await client.post("/v1/fulfilments/00000000-0000-0000-0000-000000000000/accept")
        bad_action = await client.post(f"/v1/fulfilments/{order_id}/explode")
    assert ship_early.status_code == 409
    assert ship_early.headers["content-type"].startswith("application/problem+json")
    assert ship_early.json()["current_state"] == "received"
    assert "received" in ship_early.json()["detail"]
    assert receipt_early.status_code == 409
    assert unknown.status_code == 404
    assert bad_action.status_code == 422


async def test_concurrent_commands_cannot_both_win(start_service, broker) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(
        base_url=fulfilment.url, timeout=30, headers=auth("WHEELS")
    ) as client:
        order_id, _ = await _receive(broker, fulfilment, client)
        responses = await asyncio.gather(
            *(
                client.post(f"/v1/fulfilments/{order_id}/{a}")
                for a in ["accept"] * 4 + ["reject"] * 4
            )
        )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    records = await read_records(
        broker.bootstrap_servers,
        [topics.FULFILMENT],
        until=lambda rs: len(events_of(rs, order_id)) >= 1,
    )
    await asyncio.sleep(0.5)
    records = await read_records(
        broker.bootstrap_servers,
        [topics.FULFILMENT],
        until=lambda rs: len(events_of(rs, order_id)) >= 1,
    )
    assert len(events_of(records, order_id)) == 1


async def test_redelivered_order_placed_changes_nothing(start_service, broker) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, placed = await _receive(broker, fulfilment, client)
        accepted = await client.post(f"/v1/fulfilments/{order_id}/accept")
        assert accepted.status_code == 200
        before = (await client.get("/metrics")).text
        # the same event again, as Kafka's at-least-once delivery may hand it over
        await produce(
            broker.bootstrap_servers,
            topics.ORDERS,
            json.dumps(placed).encode(),
            key=order_id.encode(),
            headers={"event_type": "OrderPlaced"},
        )
        # the inbox, not the work table's own guard, recognised it: counted a duplicate
        after = await poll_http(
            client,
            "/metrics",
            until=lambda r: (
                orders_consumed(r.text, "duplicate") > orders_consumed(before, "duplicate")
            ),
        )
        queue = (await client.get("/v1/departments/WHEELS/queue")).json()
    assert orders_consumed(after.text, "duplicate") == orders_consumed(before, "duplicate") + 1
    assert orders_consumed(after.text, "applied") == orders_consumed(before, "applied")
    mine = [item for item in queue if item["order_id"] == order_id]
    assert len(mine) == 1
    assert mine[0]["status"] == "accepted"  # not reset to received


async def test_cancelled_order_refuses_further_work(start_service, broker) -> None:
    from supplychain_contracts import OrderCancelled

    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, placed = await _receive(broker, fulfilment, client)
        cancel = OrderCancelled(
            order_id=order_id,
            root_order_id=order_id,
            producer="test",
            supplier="WHEELS",
            requester="ASSEMBLY",
            reason="no longer needed",
            causation_id=placed["event_id"],
        )
        await produce(
            broker.bootstrap_servers,
            topics.ORDERS,
            cancel.model_dump_json().encode(),
            key=order_id.encode(),
            headers={"event_type": "OrderCancelled"},
        )
        await poll_http(
            client,
            "/v1/departments/WHEELS/queue",
            until=lambda r: order_id not in [i["order_id"] for i in r.json()],
        )
        accept = await client.post(f"/v1/fulfilments/{order_id}/accept")
    assert accept.status_code == 409
    assert accept.json()["current_state"] == "cancelled"


async def test_only_the_department_that_owes_a_step_can_take_it(start_service, broker) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, _ = await _receive(broker, fulfilment, client)
        by_requester = await client.post(
            f"/v1/fulfilments/{order_id}/accept", headers=auth("ASSEMBLY")
        )
        by_stranger = await client.post(
            f"/v1/fulfilments/{order_id}/accept", headers=auth("PAINTSHOP")
        )
        other_queue = await client.get("/v1/departments/PAINTSHOP/queue")
        anonymous = await client.get("/v1/departments/WHEELS/queue", headers={"Authorization": ""})
    assert by_requester.status_code == 403
    assert by_stranger.status_code == 404
    assert other_queue.status_code == 403
    assert anonymous.status_code == 401


async def test_an_order_before_its_catalogue_item_is_accepted_once_the_item_arrives(
    start_service, broker
) -> None:
    fulfilment = start_service("fulfilment")  # it has learnt no catalogue item yet
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        order_id, _ = await _receive(broker, fulfilment, client)
        early = await client.post(f"/v1/fulfilments/{order_id}/accept")
        assert early.status_code == 409, early.text
        assert early.headers["content-type"].startswith("application/problem+json")
        assert early.headers["retry-after"] == "1"
        assert early.json()["skus"] == ["WHEEL-28"]
        assert early.json()["title"] == "Catalogue item not known yet"

        await provide_company(broker.bootstrap_servers, fulfilment.url, sample_company())
        accepted = await client.post(f"/v1/fulfilments/{order_id}/accept")
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["status"] == "accepted"
