"""SLA verdicts on event time when monitoring is frozen (issue 22, item 2), over the real broker
and database: monitoring is SIGSTOPped past an acceptance deadline while the events keep coming.
After it resumes and catches up, the order accepted in time (its OrderAccepted waiting in the
backlog behind other records) gets no warning and no breach; the order that really was never
accepted gets its warning and breach, timed by its events (started_at, deadline), not by the
resume."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, outbox_drained, poll_http, read_records, read_to_end
from support.monitoring import accepted, alarms_of, placed, policies_env, publish, stage_of

pytestmark = pytest.mark.integration

TARGET_S = 3.0  # acceptance; the warning at half of it
BACKLOG = 60  # other fulfilment records published while monitoring is frozen


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


async def test_a_frozen_monitoring_judges_by_what_happened_not_by_when_it_woke(
    start_service, broker
) -> None:
    monitoring = start_service(
        "monitoring", env=policies_env({"acceptance": TARGET_S, "end_to_end": 3600})
    )
    bootstrap = broker.bootstrap_servers
    in_time, never = uuid.uuid4(), uuid.uuid4()
    trace = uuid.uuid4().hex
    now = datetime.now(UTC)
    deadline = now + timedelta(seconds=TARGET_S)
    for order in (in_time, never):
        await publish(bootstrap, placed(order, now), trace_id=trace)
    async with httpx.AsyncClient(base_url=monitoring.url, headers=auth("ASSEMBLY")) as client:
        for order in (in_time, never):  # both stages are timed before monitoring freezes
            await poll_http(
                client,
                f"/v1/orders/{order}/handoffs",
                until=lambda r: r.status_code == 200 and any(h["deadline"] for h in r.json()),
            )

        monitoring.pause()
        try:
            for _ in range(BACKLOG):
                await publish(bootstrap, accepted(uuid.uuid4()), trace_id=trace)
            # accepted half a second after it was placed: before its warning and deadline
            await publish(
                bootstrap, accepted(in_time, now + timedelta(seconds=0.5)), trace_id=trace
            )
            # the deadline and the relays' grace pass while monitoring is frozen
            await asyncio.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds() + 2))
        finally:
            monitoring.resume()

        records = await read_records(
            bootstrap,
            [topics.SLA],
            until=lambda rs: "SlaBreached:acceptance" in alarms_of(rs, never),
            timeout=30,
        )
        # monitoring has caught up (the breach came after the backlog) and published all it
        # raised: nothing for the order accepted in time
        await outbox_drained(start_service.database_url, "monitoring")
        records = await read_to_end(bootstrap, [topics.SLA])
        assert alarms_of(records, in_time) == []
        assert alarms_of(records, never) == ["SlaWarning:acceptance", "SlaBreached:acceptance"]
        breach = next(
            r.json
            for r in records
            if r.json["order_id"] == str(never) and r.json["event_type"] == "SlaBreached"
        )
        assert parse_time(breach["started_at"]) == now
        assert parse_time(breach["deadline"]) == deadline

        stage = await stage_of(client, in_time, "acceptance")
        assert stage is not None
        assert (stage["status"], stage["duration_s"]) == ("met", 0.5)
        metrics = (await client.get("/metrics")).text
    assert "supplychain_sla_verdicts_held 0.0" in metrics
