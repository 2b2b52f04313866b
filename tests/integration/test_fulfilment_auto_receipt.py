"""Auto-receipt as deployed: fulfilment learns monitoring's SLA policy from the reference topic,
and its background scan confirms a shipped order the requester left unconfirmed once the
policy's window (one second, round the clock) has passed."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import SlaPolicy
from supplychain_contracts.reference import SlaPolicyDefined
from support import (
    auth,
    has_event,
    placed_event_json,
    poll_http,
    produce,
    read_records,
    wait_for_reference,
)
from support.fulfilment import start_fulfilment

pytestmark = pytest.mark.integration


async def test_an_unconfirmed_delivery_is_confirmed_once_the_window_passed(
    start_service, broker
) -> None:
    bootstrap = broker.bootstrap_servers
    fulfilment = await start_fulfilment(
        start_service, bootstrap, env={"FULFILMENT_AUTO_RECEIPT_MAX_SLEEP_S": "5"}
    )
    policy = SlaPolicy(
        supplier="WHEELS", targets_seconds={"delivery": 60}, auto_receipt_after_seconds=1
    )
    defined = SlaPolicyDefined(
        producer="monitoring",
        entity_key=f"sla_policy:{policy.policy_key}",
        policy_id=policy.policy_key,
        version=1,
        effective_from=datetime(1970, 1, 1, tzinfo=UTC),
        policy=policy,
    )
    await produce(
        bootstrap,
        topics.REFERENCE,
        defined.model_dump_json().encode(),
        key=defined.entity_key.encode(),
        headers={"event_type": "SlaPolicyDefined"},
    )
    await asyncio.to_thread(wait_for_reference, fulfilment.url, at_least={"sla_policy": 1})

    order_id, payload = placed_event_json(supplier="WHEELS", sku="WHEEL-28", unit_price="38.50")
    await produce(
        bootstrap,
        topics.ORDERS,
        payload,
        key=order_id.encode(),
        headers={"event_type": "OrderPlaced"},
    )
    async with httpx.AsyncClient(base_url=fulfilment.url, headers=auth("WHEELS")) as client:
        await poll_http(
            client,
            f"/v1/fulfilments/{order_id}",
            until=lambda r: r.status_code == 200,
        )
        for action in ("accept", "start", "ship"):
            response = await client.post(f"/v1/fulfilments/{order_id}/{action}")
            assert response.status_code == 200, response.text
        shipped = (await client.get(f"/v1/fulfilments/{order_id}")).json()
        delivered = await poll_http(
            client,
            f"/v1/fulfilments/{order_id}",
            until=lambda r: r.json()["status"] == "delivered",
        )
    shipped_at = datetime.fromisoformat(shipped["shipped_at"])
    due = datetime.fromisoformat(shipped["auto_receipt_due_at"])
    assert due == shipped_at + timedelta(seconds=1)
    assert datetime.fromisoformat(delivered.json()["status_changed_at"]) >= due

    records = await read_records(
        bootstrap, [topics.FULFILMENT], until=has_event(order_id, "OrderDelivered")
    )
    [receipt] = [
        r.json
        for r in records
        if r.json.get("order_id") == order_id and r.json["event_type"] == "OrderDelivered"
    ]
    assert receipt["confirmed_by"] == "auto"
    assert datetime.fromisoformat(receipt["shipped_at"]) == shipped_at
    assert receipt["lines"] == json.loads(payload)["lines"]
