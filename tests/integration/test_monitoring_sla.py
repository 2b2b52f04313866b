"""SLA clocks over the real broker and database: they fire by themselves, once, on time,
across a crash and with two replicas; stages that end in time fire nothing; late events still
close their stage; redeliveries change nothing; the replay reproduces the live results."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supplychain_contracts import FeedbackGiven, HelpRequested, OrderRejected, topics
from support import auth, poll_http, read_records
from support.metrics import metric_value
from support.monitoring import (
    SUPPLIER,
    accepted,
    alarms_of,
    parties,
    placed,
    policies_env,
    publish,
    run_replay,
    stage_of,
)

pytestmark = pytest.mark.integration
BREACH_METRIC = "supplychain_sla_breaches_total"
WARNING_METRIC = "supplychain_sla_warnings_total"


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_stage_that_never_ends_fires_once_across_a_crash_and_two_replicas(
    start_service, broker
) -> None:
    env = policies_env({"acceptance": 10, "end_to_end": 3600})
    first = start_service("monitoring", env=env)
    order_id, trace_id = uuid.uuid4(), uuid.uuid4().hex
    start_event = placed(order_id)
    await publish(broker.bootstrap_servers, start_event, trace_id=trace_id)
    async with httpx.AsyncClient(base_url=first.url, headers=auth("ASSEMBLY")) as client:
        await poll_http(
            client,
            f"/v1/orders/{order_id}/handoffs",
            until=lambda r: r.status_code == 200 and any(h["deadline"] for h in r.json()),
        )
    first.kill()  # crash between the start of the stage and its deadline

    # the same database, restarted, and a second replica in the same consumer group
    replicas = [start_service("monitoring", env=env, wait=False) for _ in range(2)]
    for replica in replicas:
        replica.wait_ready()
    records = await read_records(
        broker.bootstrap_servers,
        [topics.SLA],
        until=lambda rs: "SlaBreached:acceptance" in alarms_of(rs, order_id),
        timeout=45,
    )
    await asyncio.sleep(2.0)  # time for a duplicate to show, if any
    records = await read_records(
        broker.bootstrap_servers, [topics.SLA], until=lambda rs: len(rs) >= len(records)
    )
    assert alarms_of(records, order_id) == ["SlaWarning:acceptance", "SlaBreached:acceptance"]
    warning, breach = (r for r in records if r.json["order_id"] == str(order_id))
    deadline = start_event.occurred_at + timedelta(seconds=10)
    assert parse_time(breach.json["deadline"]) == deadline
    assert breach.json["target_seconds"] == 10
    assert parse_time(breach.json["occurred_at"]) >= deadline  # never early
    assert parse_time(warning.json["occurred_at"]) >= deadline - timedelta(seconds=5)
    assert breach.json["causation_id"] == str(start_event.event_id)
    assert (breach.json["supplier"], breach.json["requester"]) == (SUPPLIER, "ASSEMBLY")
    assert breach.trace_id == warning.trace_id == trace_id  # the order's trace continues

    async with httpx.AsyncClient(headers=auth("ASSEMBLY")) as client:
        (acceptance,) = [
            h
            for h in (await client.get(f"{replicas[0].url}/v1/orders/{order_id}/handoffs")).json()
            if h["stage"] == "acceptance"
        ]
        metrics = [(await client.get(f"{r.url}/metrics")).text for r in replicas]
    assert acceptance["status"] == "breached"
    assert acceptance["duration_s"] is None and acceptance["target_seconds"] == 10
    labels = {"stage": "acceptance", "supplier": SUPPLIER}
    assert sum(metric_value(text, BREACH_METRIC, **labels) for text in metrics) == 1


async def test_in_time_late_and_redelivered_stages_scorecards_and_replay(
    start_service, broker
) -> None:
    env = policies_env({"acceptance": 4, "fulfilment": 3600, "end_to_end": 3600})
    monitoring = start_service("monitoring", env=env)
    bootstrap = broker.bootstrap_servers
    in_time, late, historic, rejected = (uuid.uuid4() for _ in range(4))
    traces = {order: uuid.uuid4().hex for order in (in_time, late, historic, rejected)}
    now = datetime.now(UTC)
    in_time_events = [placed(in_time, now), accepted(in_time, now + timedelta(seconds=1))]
    # events that arrive long after they happened: the end closes the stage as breached
    historic_events = [
        placed(historic, now - timedelta(seconds=100)),
        accepted(historic, now - timedelta(seconds=50)),
    ]
    rejected_placed = placed(rejected, now)
    late_placed = placed(late, now)
    for event in [*in_time_events, *historic_events, rejected_placed, late_placed]:
        await publish(bootstrap, event, trace_id=traces[event.order_id])
    reject = OrderRejected(
        **{
            k: getattr(rejected_placed, k)
            for k in ("order_id", "root_order_id", "supplier", "requester")
        },
        producer="test",
        reason="no capacity",
        occurred_at=now + timedelta(seconds=1),
    )
    await publish(bootstrap, reject, trace_id=traces[rejected])

    # the late order's clock runs out; its acceptance comes afterwards
    await read_records(
        bootstrap,
        [topics.SLA],
        until=lambda rs: "SlaBreached:acceptance" in alarms_of(rs, late),
        timeout=30,
    )
    late_accepted = accepted(late)
    await publish(bootstrap, late_accepted, trace_id=traces[late])
    extras = [
        FeedbackGiven(**parties(in_time), rating=4, occurred_at=datetime.now(UTC)),
        FeedbackGiven(**parties(historic), rating=2, occurred_at=datetime.now(UTC)),
        HelpRequested(**parties(late), subject="where is my order?"),
    ]
    for event in extras:
        await publish(bootstrap, event, trace_id=traces[event.order_id])
    for event in [*in_time_events, late_accepted, historic_events[0]]:  # redelivered
        await publish(bootstrap, event, trace_id=traces[event.order_id])

    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ASSEMBLY")) as client:
        await poll_http(
            client,
            f"/v1/orders/{late}/handoffs",
            until=lambda r: any(h["stage"] == "acceptance" and h["duration_s"] for h in r.json()),
        )
        await asyncio.sleep(3.0)  # the in-time order's clock would have run out by now
        stages = {
            order: await stage_of(client, order, "acceptance")
            for order in (in_time, late, historic, rejected)
        }
        fulfilment = await stage_of(client, in_time, "fulfilment")
        policies = (await client.get("/v1/sla/policies")).json()
        period = now.strftime("%Y-%m")
        cards = await poll_http(
            client,
            f"/v1/scorecards?period={period}",
            until=lambda r: (
                r.status_code == 200
                and any(c["help_requests"] and c["ratings"] == 2 for c in r.json())
            ),
        )
        bad_period = await client.get("/v1/scorecards?period=2026-13")
        metrics = (await client.get("/metrics")).text
    records = await read_records(
        bootstrap, [topics.SLA], until=lambda rs: len(alarms_of(rs, historic)) >= 2
    )

    # fired: the late and the historic order, once each, warning first; nothing for in time
    assert alarms_of(records, in_time) == []
    assert alarms_of(records, rejected) == []
    for order in (late, historic):
        assert alarms_of(records, order) == ["SlaWarning:acceptance", "SlaBreached:acceptance"]
    assert {k: v["status"] for k, v in stages.items()} == {
        in_time: "met",
        late: "breached",
        historic: "breached",
        rejected: "rejected",  # the rejection ended the order: neither met nor breached
    }
    assert stages[in_time]["duration_s"] == 1.0
    assert stages[historic]["duration_s"] == 50.0  # the real duration, however late it came
    assert stages[late]["duration_s"] > 4.0
    assert stages[in_time]["trace_id"] == traces[in_time]
    assert fulfilment is not None and fulfilment["status"] == "open"
    assert fulfilment["target_seconds"] == 3600
    labels = {"stage": "acceptance", "supplier": SUPPLIER}
    assert metric_value(metrics, BREACH_METRIC, **labels) == 2
    assert metric_value(metrics, WARNING_METRIC, **labels) == 2

    assert [(p["supplier"], p["targets_seconds"]["acceptance"]) for p in policies] == [
        (SUPPLIER, 4.0)
    ]
    (card,) = cards.json()
    assert card["supplier"] == SUPPLIER and card["period"] == period
    assert card["orders_handled"] == 4
    assert card["on_time_pct"]["acceptance"] == 33.3  # in time of in time, late and historic
    assert (card["rejected"], card["reject_rate"], card["breaches"]) == (1, 0.25, 2)
    assert card["stages"]["acceptance"] == {
        "met": 1,
        "breached": 2,
        "rejected": 1,
        "cancelled": 0,
        "blocked": 0,
        "breaches_retracted": 0,
    }
    assert (card["average_satisfaction"], card["ratings"], card["help_requests"]) == (3.0, 2, 1)
    assert bad_period.status_code == 422
    assert bad_period.headers["content-type"].startswith("application/problem+json")
    assert "period" in bad_period.json()["detail"]

    # replay: the same stage results from the topics, and nothing emitted
    code, report, stderr = await run_replay(monitoring)
    assert code == 0, json.dumps(report) + stderr
    assert report["differences"] == [], report
    assert report["stages_compared"] == 11  # acceptance and end_to_end of 4 orders, 3 fulfilments
    assert report["events_replayed"] == 15, report  # 11 of the orders, 4 SLA events
    after = await read_records(bootstrap, [topics.SLA], until=lambda rs: len(rs) >= len(records))
    assert len(after) == len(records)
