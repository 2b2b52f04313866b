"""Safe redrive (issue 23, item 4): a dead letter is redriven through the operator route of the
service that produces its topic, with an operator key. The target is the topic the dead-letter
topic's name says (a forged header changes nothing); a corrected value must be a valid event of
that topic keeping the dead letter's event_id, event_type, order_id and key, or it is refused
with a 422 naming the field; a good redrive republishes once and its audit names the key's owner.

Fulfilment produces the orders topic (its sub-orders), so it redrives `supplychain.orders.v1.dlq`.
The dead letters are written to the `.dlq` topic as a consumer group that gave up writes them.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, placed_event_json, produce, read_to_end

pytestmark = pytest.mark.integration

DLQ = topics.dead_letter_topic(topics.ORDERS)
OPERATOR = auth("operator")


def dead_letter_headers(group: str) -> dict[str, str]:
    return {
        "event_type": "OrderPlaced",
        "dlq_error": "1 validation error for OrderPlaced\npriority\n  Input should be 'standard'",
        "dlq_error_type": "ValidationError",
        # a header is what its writer says: the route never takes the topic from it
        "dlq_source_topic": topics.INVOICING,
        "dlq_source_partition": "2",
        "dlq_source_offset": "8",
        "dlq_consumer_group": group,
        "dlq_attempts": "1",
    }


def redrive_path(partition: int, offset: int, topic: str = DLQ) -> str:
    return f"/v1/operations/dead-letters/{topic}/{partition}/{offset}/redrive"


async def test_a_forged_redrive_is_refused_and_a_good_one_republishes_once_naming_the_key(
    start_service: Any, broker: Any
) -> None:
    fulfilment = start_service("fulfilment")
    bootstrap = broker.bootstrap_servers
    order_id, good = placed_event_json(supplier="LOGISTICS", requester="MARKETING")
    poison = {**json.loads(good), "priority": "urgent"}  # a producer's bug
    for group in ("fulfilment", "monitoring"):  # one source record, two groups gave up on it
        await produce(
            bootstrap,
            DLQ,
            json.dumps(poison).encode(),
            key=order_id.encode(),
            headers=dead_letter_headers(group),
        )
    await produce(bootstrap, topics.dead_letter_topic(topics.INVOICING), good, key=b"x")
    fixed = json.loads(good)

    async with httpx.AsyncClient(base_url=fulfilment.url, headers=OPERATOR, timeout=30) as client:
        for key, status in ((auth("LOGISTICS"), 403), (auth("analyst"), 403), ({}, 401)):
            headers = key or {"Authorization": ""}
            refused = await client.post(redrive_path(0, 0), json={}, headers=headers)
            assert refused.status_code == status, (key, refused.text)
            assert status == 401 or "operator key" in refused.json()["detail"]
            listed = await client.get("/v1/operations/dead-letters", headers=headers)
            assert listed.status_code == status

        listed = await client.get("/v1/operations/dead-letters", params={"topic": topics.ORDERS})
        assert listed.status_code == 200, listed.text
        assert [(r["offset"], r["source_topic"], r["redriven"]) for r in listed.json()] == [
            (0, topics.ORDERS, None),
            (1, topics.ORDERS, None),
        ]
        partition = listed.json()[0]["partition"]  # the key's partition of the .dlq topic

        async def redrive(offset: int, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
            return await client.post(redrive_path(partition, offset, **kwargs), json=body)

        as_received = await redrive(0, {})
        assert as_received.status_code == 422, as_received.text
        assert "would be dead-lettered again" in as_received.json()["detail"]
        assert [e["field"] for e in as_received.json()["errors"]] == ["value.priority"]

        forgeries = {
            "value.event_id": {**fixed, "event_id": str(uuid.uuid4())},
            "value.order_id": {**fixed, "order_id": str(uuid.uuid4())},
            "value.event_type": {**fixed, "event_type": "OrderCancelled"},
        }
        for field, value in forgeries.items():
            forged = await redrive(0, {"value": value})
            assert forged.status_code == 422, forged.text
            assert forged.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in forged.json()["errors"]] == [field]
            assert "keeps the dead letter's" in forged.json()["detail"]
        another_topic = await redrive(0, {"value": fixed, "topic": topics.INVOICING})
        assert another_topic.status_code == 422
        assert [e["field"] for e in another_topic.json()["errors"]] == ["topic"]
        not_produced_here = await redrive(0, {}, topic=topics.dead_letter_topic(topics.INVOICING))
        assert not_produced_here.status_code == 404
        assert "produces" in not_produced_here.json()["detail"]
        missing = await redrive(9, {"value": fixed})
        assert missing.status_code == 404

        redriven = await redrive(0, {"value": fixed, "reason": "priority fixed"})
        assert redriven.status_code == 200, redriven.text
        audit = redriven.json()
        assert (audit["redriven_by"], audit["producer"]) == ("operator-1", "fulfilment")
        assert (audit["source_topic"], audit["value_replaced"]) == (topics.ORDERS, True)
        assert audit["reason"] == "priority fixed"

        again = await redrive(0, {"value": fixed})
        sibling = await redrive(1, {"value": fixed})  # the same source record, another group
        assert again.status_code == sibling.status_code == 409
        assert "operator-1" in again.json()["detail"]
        listed = await client.get("/v1/operations/dead-letters", params={"topic": DLQ})
        assert [r["redriven"]["redriven_by"] for r in listed.json()] == ["operator-1"] * 2

    records = await read_to_end(bootstrap, [topics.ORDERS, topics.INVOICING, topics.REDRIVES])
    republished = [r for r in records if r.headers.get("redriven_from") == f"{DLQ}:{partition}:0"]
    assert [(r.topic, r.key, r.json) for r in republished] == [
        (topics.ORDERS, order_id.encode(), fixed)
    ]
    assert republished[0].headers["event_type"] == "OrderPlaced"
    assert not any(k.startswith("dlq_") for k in republished[0].headers)
    audits = [r.json for r in records if r.topic == topics.REDRIVES]
    assert [(a["dlq_offset"], a["redriven_by"], a["redriven_offset"]) for a in audits] == [
        (0, "operator-1", republished[0].offset)
    ]
