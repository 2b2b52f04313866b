"""Pauses through replay (issue 15, item 3): a supplier waits on its requester and, meanwhile, on
its sub-orders; the events go through the real broker to monitoring, whose fulfilment clock
stands still (no alarm though its unpaused deadline is long past), runs again on the answer and
is met; SlaPaused / SlaResumed are on the SLA topic exactly once each, in the order's trace,
however often the events come; the real `python -m monitoring.replay` reproduces the live
results, pause-adjusted deadlines and paused seconds included."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from supplychain_contracts import (
    ComponentsReceived,
    ComponentsRequested,
    HelpAnswered,
    HelpAwaitingRequester,
    OrderShipped,
    topics,
)
from supplychain_contracts.events import RequestedComponent
from support import auth, outbox_drained, poll_http, read_to_end
from support.metrics import metric_value
from support.monitoring import (
    SUPPLIER,
    accepted,
    parties,
    placed,
    publish,
    publish_all,
    run_replay,
)

pytestmark = pytest.mark.integration

# fulfilment 10 s of a 24/7 calendar, warning at half; the clock stops on both reasons
POLICY = {
    "supplier": SUPPLIER,
    "targets_seconds": {"acceptance": 300, "fulfilment": 10, "end_to_end": 3600},
    "warning_threshold": 0.5,
    "pause_when_awaiting_requester": True,
    "pause_when_blocked": True,
}
ENV = {
    "MONITORING_SLA_POLICIES_JSON": json.dumps([POLICY]),
    "MONITORING_SLA_SCAN_INTERVAL_MS": "100",
    "MONITORING_SLA_VERDICT_RELAY_GRACE_SECONDS": "0.2",
    "MONITORING_SLA_WATERMARK_INTERVAL_MS": "200",
}


def fulfilment_of(response: httpx.Response) -> dict[str, Any] | None:
    if response.status_code != 200:
        return None
    return next((row for row in response.json() if row["stage"] == "fulfilment"), None)


async def test_pauses_through_replay(start_service, broker) -> None:
    monitoring = start_service("monitoring", env=ENV)
    bootstrap, trace_id = broker.bootstrap_servers, uuid.uuid4().hex
    order_id, help_id = uuid.uuid4(), uuid.uuid4()
    t = datetime.now(UTC) - timedelta(seconds=100)
    at = {name: t + timedelta(seconds=s) for name, s in (("p", 0), ("a", 1), ("h", 2))}
    # accepted at t+1, waiting on the requester from t+2 and on the sub-orders t+3 → t+40:
    # unpaused, the fulfilment deadline (t+11) would be long past
    asked = HelpAwaitingRequester(
        **parties(order_id), help_event_id=help_id, question="which size?", occurred_at=at["h"]
    )
    part = RequestedComponent(order_id=uuid.uuid4(), sku="X-1", quantity=1, supplier="FRAMES")
    blocked = ComponentsRequested(
        **parties(order_id), components=(part,), occurred_at=t + timedelta(seconds=3)
    )
    unblocked = ComponentsReceived(
        **parties(order_id), sub_order_ids=(part.order_id,), occurred_at=t + timedelta(seconds=40)
    )
    # at once: with times 100 s in the past, an acceptance read before its pauses would start a
    # clock that ran out long ago
    await publish_all(
        bootstrap,
        [placed(order_id, at["p"]), accepted(order_id, at["a"]), asked, blocked, unblocked],
        trace_id=trace_id,
    )

    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ASSEMBLY")) as client:
        url = f"/v1/orders/{order_id}/handoffs"
        response = await poll_http(
            client,
            url,
            until=lambda r: (row := fulfilment_of(r)) is not None and len(row["pauses"]) == 2,
        )
        paused = fulfilment_of(response)
        assert paused is not None and paused["status"] == "paused"
        assert paused["deadline"] is None
        assert [(p["reason"], p["resumed_at"] is None) for p in paused["pauses"]] == [
            ("awaiting_requester", True),
            ("blocked_on_sub_orders", False),
        ]

        # answered now: 1 s ran before the pause, 9 s are left; shipped a second later
        answered_at = datetime.now(UTC)
        answered = HelpAnswered(
            **parties(order_id), help_event_id=help_id, answer="56 cm", occurred_at=answered_at
        )
        shipped = OrderShipped(**parties(order_id), occurred_at=answered_at + timedelta(seconds=1))
        for event in (answered, asked, blocked, unblocked, answered, shipped):  # redelivered
            await publish(bootstrap, event, trace_id=trace_id)
        response = await poll_http(
            client, url, until=lambda r: (row := fulfilment_of(r)) is not None and row["ended_at"]
        )
        metrics = (await client.get("/metrics")).text

    fulfilment = fulfilment_of(response)
    assert fulfilment is not None and fulfilment["status"] == "met"
    deadline = datetime.fromisoformat(fulfilment["deadline"])
    assert deadline == answered_at + timedelta(seconds=9)
    assert fulfilment["paused_seconds"] == pytest.approx((answered_at - at["h"]).total_seconds())
    labels = {"stage": "fulfilment", "supplier": SUPPLIER}
    for reason in ("awaiting_requester", "blocked_on_sub_orders"):
        assert metric_value(metrics, "supplychain_sla_pauses_total", **labels, reason=reason) == 1

    await outbox_drained(monitoring.env["DATABASE_URL"], "monitoring")
    code, report, stderr = await run_replay(monitoring)
    assert code == 0, json.dumps(report) + stderr
    assert report["differences"] == []
    assert report["stages_compared"] == 4  # acceptance, fulfilment, delivery, end to end

    records = [
        r for r in await read_to_end(bootstrap, [topics.SLA]) if r.json["order_id"] == str(order_id)
    ]
    seen = Counter((r.json["event_type"], r.json["stage"], r.json.get("reason")) for r in records)
    assert seen == {
        ("SlaPaused", "fulfilment", "awaiting_requester"): 1,
        ("SlaResumed", "fulfilment", "awaiting_requester"): 1,
        ("SlaPaused", "fulfilment", "blocked_on_sub_orders"): 1,
        ("SlaResumed", "fulfilment", "blocked_on_sub_orders"): 1,
    }
    assert {r.trace_id for r in records} == {trace_id}
    resumed = next(
        r.json
        for r in records
        if r.json["event_type"] == "SlaResumed" and r.json.get("reason") == "awaiting_requester"
    )
    assert datetime.fromisoformat(resumed["deadline"]) == deadline
