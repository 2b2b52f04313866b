"""Parked outbox rows are listed and released through a service's operator route (issue 23, item
4): operator keys only, and the release is recorded (OutboxRowsReleased on the operations topic,
through the service's outbox in the release's transaction) naming the key's owner.

In process on the real PostgreSQL, without a broker: the relay never starts, so the parked row
and the audit stay in the outbox where the test reads them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from fulfilment.config import FulfilmentSettings
from fulfilment.main import create_app
from supplychain_contracts import OrderPlaced, topics
from supplychain_kit.messaging import consumer_parking, outbox, outbox_parking
from support import auth
from support.events import order_placed
from support.service import serving

PARKING = "/v1/operations/outbox-parking"
CONSUMER_PARKING = "/v1/operations/consumer-parking"
OPERATOR = auth("operator")


@pytest.fixture
async def fulfilment(database: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = FulfilmentSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers="127.0.0.1:9",  # nothing listens: no broker needed
        environment="test",
    )
    app = create_app(settings)
    async with serving(app) as client:
        yield app, client


async def park_one(app: FastAPI) -> tuple[int, OrderPlaced]:
    """An event the broker refused for good: in the outbox, parked."""
    event = order_placed(producer="fulfilment")
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        await outbox.append(conn, [event])
        outbox_id = await conn.fetchval("SELECT id FROM outbox WHERE event_id = $1", event.event_id)
        refusal = outbox_parking.Refusal(
            outbox_id, str(event.order_id), topics.ORDERS, 1, "MessageSizeTooLargeError: too large"
        )
        policy = outbox_parking.RetryPolicy(park_after_attempts=1, park_after_s=0)
        assert await outbox_parking.record(conn, [refusal], policy)
    return outbox_id, event


async def test_an_operator_lists_and_releases_parked_rows_and_the_release_names_the_key(
    fulfilment: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = fulfilment
    outbox_id, event = await park_one(app)

    for key, status in ((auth("FRAMES"), 403), (auth("admin"), 403), ({}, 401)):
        assert (await client.get(PARKING, headers=key)).status_code == status
        refused = await client.post(f"{PARKING}/release", json={"outbox_ids": "all"}, headers=key)
        assert refused.status_code == status
    listed = await client.get(PARKING, headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    assert [(r["outbox_id"], r["event_type"]) for r in listed.json()] == [
        (outbox_id, "OrderPlaced")
    ]
    for body in ({}, {"all": True}, {"outbox_ids": []}, {"outbox_ids": "every"}):
        unclear = await client.post(f"{PARKING}/release", json=body, headers=OPERATOR)
        assert unclear.status_code == 422, body

    released = await client.post(
        f"{PARKING}/release",
        json={"outbox_ids": [outbox_id, 999_999], "reason": "limit raised"},
        headers=OPERATOR,
    )
    assert released.status_code == 200, released.text
    result = released.json()
    assert (result["released"], result["not_parked"]) == ([outbox_id], [999_999])
    assert result["audit"]["released_by"] == "operator-1"
    assert result["audit"]["event_ids"] == [str(event.event_id)]

    async with app.state.runtime.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox_failures") == 0
        rows = await conn.fetch(
            "SELECT topic, key, payload::text AS payload FROM outbox WHERE event_type = $1",
            "OutboxRowsReleased",
        )
    [audit] = rows
    assert audit["topic"] == topics.REDRIVES
    recorded = json.loads(audit["payload"])
    assert (recorded["producer"], recorded["outbox_ids"], recorded["reason"]) == (
        "fulfilment",
        [outbox_id],
        "limit raised",
    )
    assert recorded["released_by"] == "operator-1"
    again = await client.post(f"{PARKING}/release", json={"outbox_ids": "all"}, headers=OPERATOR)
    assert again.json() == {"released": [], "not_parked": [], "audit": None}


async def test_an_operator_lists_the_records_the_consumer_parked(
    fulfilment: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """GET /v1/operations/consumer-parking: what `supplychain consumer parked` prints."""
    app, client = fulfilment
    newer = ConsumerRecord(
        topic=topics.ORDERS, partition=1, offset=42, timestamp=0, timestamp_type=0,
        key=b"k", value=b'{"event_type": "OrderReturned"}', checksum=None,
        serialized_key_size=1, serialized_value_size=31, headers=[],
    )  # fmt: skip
    async with app.state.runtime.pool.acquire() as conn, conn.transaction():
        parked = [(newer, "OrderReturned")]
        assert await consumer_parking.park(conn, service="fulfilment", group="g", records=parked)
    for key, status in ((auth("FRAMES"), 403), (auth("admin"), 403), ({}, 401)):
        assert (await client.get(CONSUMER_PARKING, headers=key)).status_code == status
    listed = await client.get(CONSUMER_PARKING, headers=OPERATOR)
    assert listed.status_code == 200, listed.text
    assert [
        (r["consumer_group"], r["topic"], r["partition"], r["offset"], r["event_type"])
        for r in listed.json()
    ] == [("g", topics.ORDERS, 1, 42, "OrderReturned")]
