"""The production chain over the real broker and database: sub-orders three levels deep,
one trace for the tree, redelivery, a rejected component blocking its parents, cancellation
compensated down the chain, feedback and help requests (asked back and answered), and
ComponentsReceived once a parent's last component is delivered."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from typing import Any

import httpx
import pytest
from supplychain_contracts import OrderCancelled, topics
from support import auth, has_event, poll_http, produce, read_records
from support.fulfilment import (
    by_order,
    events_published,
    new_traceparent,
    of_tree,
    place_root_order,
    start_fulfilment,
    transfer_price,
    without_effect,
)

pytestmark = pytest.mark.integration

FAST_AUTOPILOT = {
    "FULFILMENT_AUTOPILOT": "true",
    "FULFILMENT_AUTOPILOT_ACCEPT_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_SHIP_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_RECEIPT_DELAY_S": "0.05",
    "FULFILMENT_AUTOPILOT_POLL_INTERVAL_MS": "50",
    # a department of its own: slower painting, and nobody confirms receipt for RETAIL_OPS
    # until the test has looked at the shipped root
    "FULFILMENT_AUTOPILOT_DEPARTMENTS": json.dumps(
        {"PAINTSHOP": {"ship_delay_s": 0.3}, "RETAIL_OPS": {"enabled": False}}
    ),
}
LEAF = ["OrderAccepted", "WorkStarted", "OrderShipped", "OrderDelivered"]
# an assembled order's components may all be in before or after its work started
ASSEMBLED = [
    "OrderAccepted",
    "ComponentsRequested",
    "WorkStarted",
    "ComponentsReceived",
    "OrderShipped",
    "OrderDelivered",
]
ASSEMBLED_COMPONENTS_FIRST = [*ASSEMBLED[:2], ASSEMBLED[3], ASSEMBLED[2], *ASSEMBLED[4:]]
CHILDREN = {
    "EBIKE-CITY": ["FRAME-CITY", "WHEEL-28", "DRIVE-250W"],
    "FRAME-CITY": ["TUBE-AL-6061", "DROPOUT-STEEL", "PAINT-FRAME"],
}


def _at(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["occurred_at"])


async def test_autopilot_walks_a_three_level_chain_in_one_trace_and_redelivery_changes_nothing(
    start_service, broker
) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers, env=FAST_AUTOPILOT)
    bootstrap = broker.bootstrap_servers
    trace_id, traceparent = new_traceparent()
    root = await place_root_order(
        bootstrap,
        sku="EBIKE-CITY",
        quantity=2,
        requester="RETAIL_OPS",
        supplier="ASSEMBLY",
        traceparent=traceparent,
    )
    root_id = root["order_id"]
    await read_records(
        bootstrap, [topics.FULFILMENT], until=has_event(root_id, "OrderShipped"), timeout=60
    )
    async with httpx.AsyncClient(base_url=fulfilment.url, timeout=30) as client:
        # RETAIL_OPS works by hand: it confirms receipt of the root itself
        receipt = await client.post(f"/v1/orders/{root_id}/receipt", headers=auth("RETAIL_OPS"))
        assert receipt.status_code == 200, receipt.text
    records = await read_records(
        bootstrap,
        [topics.ORDERS, topics.FULFILMENT],
        until=has_event(root_id, "OrderDelivered"),
    )
    tree = of_tree(records, root_id)
    placed = {r.json["order_id"]: r.json for r in tree if r.topic == topics.ORDERS}
    worked = by_order([r for r in tree if r.topic == topics.FULFILMENT])

    # the tree: EBIKE-CITY x2 → FRAME-CITY x2, WHEEL-28 x4, DRIVE-250W x2;
    # FRAME-CITY x2 → TUBE-AL-6061 x6, DROPOUT-STEEL x2, PAINT-FRAME x2
    assert len(placed) == 7
    sku_of = {order_id: event["lines"][0]["sku"] for order_id, event in placed.items()}
    id_of = {sku: order_id for order_id, sku in sku_of.items()}
    expected = {
        "FRAME-CITY": ("EBIKE-CITY", 2, "FRAMES", "ASSEMBLY"),
        "WHEEL-28": ("EBIKE-CITY", 4, "WHEELS", "ASSEMBLY"),
        "DRIVE-250W": ("EBIKE-CITY", 2, "ELECTRONICS", "ASSEMBLY"),
        "TUBE-AL-6061": ("FRAME-CITY", 6, "METALWORKS", "FRAMES"),
        "DROPOUT-STEEL": ("FRAME-CITY", 2, "METALWORKS", "FRAMES"),
        "PAINT-FRAME": ("FRAME-CITY", 2, "PAINTSHOP", "FRAMES"),
    }
    assert set(id_of) == {"EBIKE-CITY", *expected}
    for sku, (parent_sku, quantity, supplier, requester) in expected.items():
        child = placed[id_of[sku]]
        parent_id = id_of[parent_sku]
        requested = worked[parent_id][1]
        assert requested["event_type"] == "ComponentsRequested"
        assert child["causation_id"] == requested["event_id"]
        assert child["parent_order_id"] == parent_id
        assert child["root_order_id"] == root_id
        assert child["producer"] == "fulfilment"
        assert (child["supplier"], child["requester"]) == (supplier, requester)
        assert child["lines"] == [
            {"sku": sku, "quantity": quantity, "unit_price": transfer_price(sku)}
        ]
        assert {
            "order_id": id_of[sku],
            "sku": sku,
            "quantity": quantity,
            "supplier": supplier,
        } in requested["components"]
    assert len(worked[id_of["EBIKE-CITY"]][1]["components"]) == 3
    assert len(worked[id_of["FRAME-CITY"]][1]["components"]) == 3

    # every order's own events, each caused by the one before it; an assembled order's
    # ComponentsReceived (once) by the receipt of its last component
    for order_id, events in worked.items():
        sku = sku_of[order_id]
        types = [e["event_type"] for e in events]
        if sku in CHILDREN:
            assert types in (ASSEMBLED, ASSEMBLED_COMPONENTS_FIRST), (sku, types)
        else:
            assert types == LEAF, (sku, types)
        causes = [placed[order_id]["event_id"]] + [e["event_id"] for e in events[:-1]]
        for position, event in enumerate(events):
            if event["event_type"] == "ComponentsReceived":
                receipts = {worked[id_of[child]][-1]["event_id"] for child in CHILDREN[sku]}
                assert event["causation_id"] in receipts, sku
                causes[position] = event["causation_id"]
        assert [e["causation_id"] for e in events] == causes, sku
        assert all(e["producer"] == "fulfilment" for e in events)
    # a parent learns its components are in, and ships, only once every one was delivered
    for parent_sku, children in CHILDREN.items():
        parent_events = {e["event_type"]: e for e in worked[id_of[parent_sku]]}
        received, shipped = parent_events["ComponentsReceived"], parent_events["OrderShipped"]
        assert sorted(received["sub_order_ids"]) == sorted(id_of[child] for child in children)
        for child in children:
            delivered = worked[id_of[child]][-1]
            assert _at(delivered) <= _at(received) <= _at(shipped), (child, parent_sku)
    # one trace for the whole tree, from the root's OrderPlaced down to the last receipt
    assert len(tree) == 7 + 2 * 6 + 5 * 4
    assert {r.trace_id for r in tree} == {trace_id}

    async with httpx.AsyncClient(base_url=fulfilment.url, timeout=30) as client:
        # feedback: the requester rates a delivered order once
        url = f"/v1/orders/{root_id}/feedback"
        rated = await client.post(
            url, json={"rating": 5, "comment": "on time"}, headers=auth("RETAIL_OPS")
        )
        again = await client.post(url, json={"rating": 1}, headers=auth("RETAIL_OPS"))
        by_supplier = await client.post(url, json={"rating": 5}, headers=auth("ASSEMBLY"))
        by_stranger = await client.post(url, json={"rating": 5}, headers=auth("WHEELS"))
        out_of_range = await client.post(url, json={"rating": 6}, headers=auth("RETAIL_OPS"))
        help_too_late = await client.post(
            f"/v1/orders/{root_id}/help", json={"subject": "where?"}, headers=auth("RETAIL_OPS")
        )
        sub_order_rated = await client.post(
            f"/v1/orders/{id_of['FRAME-CITY']}/feedback",
            json={"rating": 4},
            headers=auth("ASSEMBLY"),
        )
        assert rated.status_code == 201, rated.text
        assert again.status_code == 409
        assert again.headers["content-type"].startswith("application/problem+json")
        assert by_supplier.status_code == 403
        assert by_stranger.status_code == 404
        assert out_of_range.status_code == 422
        assert "rating" in out_of_range.json()["detail"]
        assert help_too_late.status_code == 409
        assert help_too_late.json()["current_state"] == "delivered"
        assert sub_order_rated.status_code == 201
        feedback = await read_records(
            bootstrap,
            [topics.ORDERS, topics.FULFILMENT],
            until=lambda rs: sum(r.headers.get("event_type") == "FeedbackGiven" for r in rs) == 2,
        )
        given = [r for r in of_tree(feedback, root_id) if r.json["event_type"] == "FeedbackGiven"]
        root_feedback = next(r for r in given if r.json["order_id"] == root_id)
        assert root_feedback.json["rating"] == 5
        assert root_feedback.json["comment"] == "on time"
        assert root_feedback.json["causation_id"] == worked[root_id][-1]["event_id"]
        assert root_feedback.trace_id == trace_id

        # redelivery: every record the service consumed, handed over once more
        before = {
            order_id: (
                await client.get(
                    f"/v1/fulfilments/{order_id}", headers=auth(placed[order_id]["supplier"])
                )
            ).json()
            for order_id in placed
        }
        # every record of its input so far (the orders topic: it does not read its own)
        consumed = [r for r in feedback if r.topic == topics.ORDERS]
        its_own = len(feedback) - len(consumed)
        metrics = (await client.get("/metrics")).text
        without_effect_before, published_before = without_effect(metrics), events_published(metrics)
        for record in consumed:
            await produce(
                bootstrap, record.topic, record.value, key=record.key, headers=record.headers
            )
        await poll_http(
            client,
            "/metrics",
            until=lambda r: without_effect(r.text) >= without_effect_before + len(consumed),
            timeout=60,
        )
        await asyncio.sleep(1.0)  # anything a redelivery emitted would be relayed by now
        metrics = (await client.get("/metrics")).text
        assert without_effect(metrics) == without_effect_before + len(consumed)
        assert events_published(metrics) == published_before  # no new event, no sub-order
        after = {
            order_id: (
                await client.get(
                    f"/v1/fulfilments/{order_id}", headers=auth(placed[order_id]["supplier"])
                )
            ).json()
            for order_id in placed
        }
    assert after == before
    assert {item["status"] for item in after.values()} == {"delivered"}
    on_topics = await read_records(
        bootstrap,
        [topics.ORDERS, topics.FULFILMENT],
        until=lambda rs: len(rs) >= 2 * len(consumed) + its_own,
    )
    assert len(on_topics) == 2 * len(consumed) + its_own  # the copies handed over, nothing new


async def test_rejected_component_blocks_the_chain_and_cancel_compensates_down_it(
    start_service, broker
) -> None:
    fulfilment = await start_fulfilment(start_service, broker.bootstrap_servers)
    bootstrap = broker.bootstrap_servers
    root = await place_root_order(
        bootstrap, sku="EBIKE-CITY", quantity=1, requester="RETAIL_OPS", supplier="ASSEMBLY"
    )
    root_id = root["order_id"]

    async def item(order_id: str, department: str) -> dict[str, Any]:
        response = await client.get(f"/v1/fulfilments/{order_id}", headers=auth(department))
        assert response.status_code == 200, response.text
        return response.json()

    async def queued(department: str, sku: str) -> str:
        response = await poll_http(
            client,
            f"/v1/departments/{department}/queue",
            headers=auth(department),
            until=lambda r: any(
                i["lines"][0]["sku"] == sku and i["root_order_id"] == root_id for i in r.json()
            ),
        )
        return next(i["order_id"] for i in response.json() if i["lines"][0]["sku"] == sku)

    async def command(order_id: str, action: str, department: str, **body: Any) -> httpx.Response:
        return await client.post(
            f"/v1/fulfilments/{order_id}/{action}", json=body or None, headers=auth(department)
        )

    async with httpx.AsyncClient(base_url=fulfilment.url, timeout=30) as client:
        await queued("ASSEMBLY", "EBIKE-CITY")
        # concurrent accepts: one wins, and the sub-orders are raised once
        accepts = await asyncio.gather(*(command(root_id, "accept", "ASSEMBLY") for _ in range(4)))
        assert sorted(r.status_code for r in accepts) == [200, 409, 409, 409]
        winner = next(r.json() for r in accepts if r.status_code == 200)
        assert sorted(s["sku"] for s in winner["sub_orders"]) == [
            "DRIVE-250W",
            "FRAME-CITY",
            "WHEEL-28",
        ]
        assert len((await item(root_id, "ASSEMBLY"))["sub_orders"]) == 3

        # the parent may start, but not ship while its components are under way
        assert (await command(root_id, "start", "ASSEMBLY")).status_code == 200
        early_ship = await command(root_id, "ship", "ASSEMBLY")
        assert early_ship.status_code == 409
        assert early_ship.json()["current_state"] == "in_progress"
        assert {w["sku"] for w in early_ship.json()["waiting_for"]} == {
            "FRAME-CITY",
            "WHEEL-28",
            "DRIVE-250W",
        }

        frame = await queued("FRAMES", "FRAME-CITY")
        wheels = await queued("WHEELS", "WHEEL-28")
        drive = await queued("ELECTRONICS", "DRIVE-250W")
        assert (await command(frame, "ship", "FRAMES")).json()["current_state"] == "received"
        assert (await command(frame, "accept", "FRAMES")).status_code == 200
        for action in ("accept", "start", "ship"):
            assert (await command(wheels, action, "WHEELS")).status_code == 200
        tube = await queued("METALWORKS", "TUBE-AL-6061")
        dropout = await queued("METALWORKS", "DROPOUT-STEEL")
        paint = await queued("PAINTSHOP", "PAINT-FRAME")
        assert (await command(paint, "accept", "PAINTSHOP")).status_code == 200

        # a rejected component blocks its parent, and the blocked parent blocks the root
        rejected = await command(tube, "reject", "METALWORKS", reason="alloy shortage")
        assert rejected.status_code == 200
        await poll_http(
            client,
            f"/v1/fulfilments/{root_id}",
            headers=auth("ASSEMBLY"),
            until=lambda r: r.json()["status"] == "blocked",
        )
        blocked_frame = await item(frame, "FRAMES")
        assert blocked_frame["status"] == "blocked"
        assert "alloy shortage" in blocked_frame["reason"]
        assert "TUBE-AL-6061" in blocked_frame["reason"]
        blocked_start = await command(frame, "start", "FRAMES")
        assert blocked_start.status_code == 409
        assert blocked_start.json()["current_state"] == "blocked"
        assert (await command(root_id, "ship", "ASSEMBLY")).json()["current_state"] == "blocked"
        help_asked = await client.post(
            f"/v1/orders/{root_id}/help",
            json={"subject": "is the e-bike late?", "message": "the shop opens on Monday"},
            headers=auth("RETAIL_OPS"),
        )
        assert help_asked.status_code == 201, help_asked.text
        help_by_supplier = await client.post(
            f"/v1/orders/{root_id}/help", json={"subject": "x"}, headers=auth("ASSEMBLY")
        )
        assert help_by_supplier.status_code == 403
        help_id = help_asked.json()["event_id"]
        await walk_help_request(client, root_id, help_id)

        # the requester cancels the root (as order-intake publishes it): compensation
        cancel = OrderCancelled(
            order_id=root_id,
            root_order_id=root_id,
            causation_id=root["event_id"],
            producer="order-intake",
            supplier="ASSEMBLY",
            requester="RETAIL_OPS",
            reason="customer withdrew",
        )
        await produce(
            bootstrap,
            topics.ORDERS,
            cancel.model_dump_json().encode(),
            key=root_id.encode(),
            headers={"event_type": "OrderCancelled"},
        )
        for order_id, department in ((dropout, "METALWORKS"), (paint, "PAINTSHOP")):
            await poll_http(
                client,
                f"/v1/fulfilments/{order_id}",
                headers=auth(department),
                until=lambda r: r.json()["status"] == "cancelled",
            )
        statuses = {
            "root": (await item(root_id, "ASSEMBLY"))["status"],
            "frame": (await item(frame, "FRAMES"))["status"],
            "wheels": (await item(wheels, "WHEELS"))["status"],
            "drive": (await item(drive, "ELECTRONICS"))["status"],
            "tube": (await item(tube, "METALWORKS"))["status"],
        }
        assert statuses == {
            "root": "cancelled",
            "frame": "cancelled",
            "wheels": "shipped",  # already on its way: it arrives and is received
            "drive": "cancelled",
            "tube": "rejected",
        }
        assert (await command(drive, "accept", "ELECTRONICS")).json()[
            "current_state"
        ] == "cancelled"
        closed = await client.post(
            f"/v1/orders/{root_id}/help/{help_id}/awaiting-requester",
            json={"question": "still needed?"},
            headers=auth("ASSEMBLY"),
        )
        assert closed.status_code == 409
        assert closed.json()["current_state"] == "cancelled"

    def of_type(rs: list[Any], event_type: str) -> dict[str, dict[str, Any]]:
        return {
            r.json["order_id"]: r.json
            for r in of_tree(rs, root_id)
            if r.json.get("event_type") == event_type
        }

    records = await read_records(
        bootstrap,
        [topics.ORDERS, topics.FULFILMENT],
        until=lambda rs: len(of_type(rs, "WorkCancelled")) >= 5,
    )
    # each request is settled by its supplier, whose WorkCancelled causes the requests down
    # the chain: root request -> root settled -> frame request -> frame settled -> dropout...
    tree = of_tree(records, root_id)
    cancelled = of_type(records, "OrderCancelled")
    settled = of_type(records, "WorkCancelled")
    assert set(cancelled) == set(settled) == {root_id, frame, drive, dropout, paint}
    assert settled[root_id]["causation_id"] == str(cancel.event_id)
    assert cancelled[frame]["causation_id"] == settled[root_id]["event_id"]
    assert cancelled[drive]["causation_id"] == settled[root_id]["event_id"]
    assert cancelled[dropout]["causation_id"] == settled[frame]["event_id"]
    assert cancelled[paint]["causation_id"] == settled[frame]["event_id"]
    for order_id in (frame, drive, dropout, paint):
        assert settled[order_id]["causation_id"] == cancelled[order_id]["event_id"]
        assert cancelled[order_id]["producer"] == "fulfilment"
        assert cancelled[order_id]["root_order_id"] == root_id
    assert cancelled[dropout]["requester"] == "FRAMES"

    blocks = {r.json["order_id"]: r.json for r in tree if r.json["event_type"] == "OrderBlocked"}
    assert set(blocks) == {frame, root_id}
    assert len([r for r in tree if r.json["event_type"] == "OrderBlocked"]) == 2
    tube_rejected = next(
        r.json
        for r in tree
        if r.json["order_id"] == tube and r.json["event_type"] == "OrderRejected"
    )
    assert blocks[frame]["blocking_order_id"] == tube
    assert blocks[frame]["causation_id"] == tube_rejected["event_id"]
    assert blocks[root_id]["blocking_order_id"] == frame
    assert blocks[root_id]["causation_id"] == blocks[frame]["event_id"]
    helped = [r.json for r in tree if r.json["event_type"] == "HelpRequested"]
    assert [(h["order_id"], h["subject"], h["requester"]) for h in helped] == [
        (root_id, "is the e-bike late?", "RETAIL_OPS")
    ]
    # each step of the help request on the topic once, keyed by the order, caused by the last
    steps = [r for r in tree if r.json["event_type"] in ("HelpAwaitingRequester", "HelpAnswered")]
    assert [(r.json["event_type"], r.key) for r in steps] == [
        ("HelpAwaitingRequester", root_id.encode()),
        ("HelpAnswered", root_id.encode()),
    ]
    assert [r.json["help_event_id"] for r in steps] == [help_id, help_id]
    assert [r.json["causation_id"] for r in steps] == [help_id, steps[0].json["event_id"]]
    assert (steps[0].json["question"], steps[1].json["answer"]) == ("which shop?", "Main St")


async def walk_help_request(client: httpx.AsyncClient, order_id: str, help_id: str) -> None:
    """The supplier asks the requester back, the requester answers; each step only by the
    party that owes it, only in the state that allows it."""
    url = f"/v1/orders/{order_id}/help/{help_id}"
    question, answer = {"question": "which shop?"}, {"answer": "Main St"}

    async def post(step: str, body: dict[str, str], department: str) -> httpx.Response:
        return await client.post(f"{url}/{step}", json=body, headers=auth(department))

    assert (await post("awaiting-requester", question, "RETAIL_OPS")).status_code == 403
    assert (await post("awaiting-requester", question, "WHEELS")).status_code == 404
    unknown = await client.post(
        f"/v1/orders/{order_id}/help/{order_id}/awaiting-requester",
        json=question,
        headers=auth("ASSEMBLY"),
    )
    assert unknown.status_code == 404
    assert unknown.json()["help_event_id"] == order_id
    early_answer = await post("answer", answer, "RETAIL_OPS")
    assert early_answer.status_code == 409
    assert early_answer.headers["content-type"].startswith("application/problem+json")
    assert early_answer.json()["current_state"] == "open"
    assert (await post("awaiting-requester", {"question": ""}, "ASSEMBLY")).status_code == 422

    asked = await post("awaiting-requester", question, "ASSEMBLY")
    assert asked.status_code == 201, asked.text
    assert asked.json()["event_type"] == "HelpAwaitingRequester"
    asked_twice = await post("awaiting-requester", question, "ASSEMBLY")
    assert asked_twice.status_code == 409
    assert asked_twice.json()["current_state"] == "awaiting_requester"
    assert (await post("answer", answer, "ASSEMBLY")).status_code == 403
    answered = await post("answer", answer, "RETAIL_OPS")
    assert answered.status_code == 201, answered.text
    assert answered.json()["event_type"] == "HelpAnswered"

    listed = await client.get(f"/v1/orders/{order_id}/help", headers=auth("ASSEMBLY"))
    assert listed.status_code == 200, listed.text
    [request] = listed.json()
    assert (request["help_event_id"], request["status"]) == (help_id, "answered")
    assert [(h["event_type"], h["department"], h["status"]) for h in request["history"]] == [
        ("HelpRequested", "RETAIL_OPS", "open"),
        ("HelpAwaitingRequester", "ASSEMBLY", "awaiting_requester"),
        ("HelpAnswered", "RETAIL_OPS", "answered"),
    ]
    by_requester = await client.get(f"/v1/orders/{order_id}/help", headers=auth("RETAIL_OPS"))
    assert by_requester.json() == listed.json()
    by_stranger = await client.get(f"/v1/orders/{order_id}/help", headers=auth("WHEELS"))
    assert by_stranger.status_code == 404
