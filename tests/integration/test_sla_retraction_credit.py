"""Fulfilment's relay blocked past a deadline, then released, on the real broker and database
(issue 22, item 3): monitoring raises the breach (it has read the fulfilment topic past the
deadline and the acceptance is not there), invoicing credits it; once the acceptance, which
happened in time, is published, monitoring retracts the breach and invoicing reverses the
credit with a credit note of kind `reversal`, exactly once, a redelivered retraction
included.

The relay is held the way a second replica holds it: the test takes the advisory lock the
outbox relay leads with, so fulfilment commits its commands and publishes nothing until the
lock is released. Monitoring is frozen (SIGSTOP) while the relay catches up, so invoicing has
issued the credit before the retraction exists: the retraction must reverse an issued note,
not a claim still waiting for the invoice (that path is the service tests')."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from support import (
    auth,
    outbox_drained,
    poll_http,
    produce,
    publish_reference,
    read_records,
    read_to_end,
    reference_counts,
    wait_for_reference,
)
from support.endings import command, sla_env, sla_events_of, start_together, work_item
from support.fulfilment import place_root_order
from support.invoicing import outcomes
from support.metrics import metric_value

pytestmark = pytest.mark.integration

SUPPLIER, REQUESTER = "WHEELS", "ASSEMBLY"
# acceptance is the stage the held relay breaches; the others never run out here
TARGETS = {"acceptance": 3, "fulfilment": 120, "delivery": 120, "invoicing": 120, "end_to_end": 300}


async def hold_the_relay(database_url: str, service: str) -> asyncpg.Connection:
    """Take the lock `service`'s outbox relay leads with (as another replica would): the
    service keeps committing, its relay publishes nothing until the connection lets go."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", f"outbox:{service}")
    return conn


def invoice_with_notes(count: int, order_id: str) -> Any:
    def check(response: httpx.Response) -> bool:
        if response.status_code != 200:
            return False
        mine = [i for i in response.json() if i["order_id"] == order_id]
        return len(mine) == 1 and len(mine[0]["credit_notes"]) >= count

    return check


async def test_a_breach_the_held_relay_caused_is_retracted_and_its_credit_reversed_once(
    start_service: Any, broker: Any
) -> None:
    started = time.monotonic()
    fulfilment_service, invoicing_service, monitoring_service = start_together(
        start_service,
        ("fulfilment", {}),
        ("invoicing", {}),
        ("monitoring", sla_env({SUPPLIER: TARGETS}, credit_pct="10")),
    )
    bootstrap = broker.bootstrap_servers
    await publish_reference(bootstrap, sample_company())
    for service in (fulfilment_service, invoicing_service):
        await asyncio.to_thread(
            wait_for_reference, service.url, at_least=reference_counts(sample_company())
        )
    async with (
        httpx.AsyncClient(base_url=fulfilment_service.url, timeout=30) as fulfilment,
        httpx.AsyncClient(base_url=invoicing_service.url, timeout=30) as invoicing,
        httpx.AsyncClient(base_url=monitoring_service.url, timeout=30) as monitoring,
    ):
        placed = await place_root_order(
            bootstrap, sku="WHEEL-28", quantity=2, requester=REQUESTER, supplier=SUPPLIER
        )
        order_id = placed["order_id"]
        await work_item(fulfilment, order_id, SUPPLIER)
        relay = await hold_the_relay(start_service.database_url, "fulfilment")
        try:
            accepted = await command(fulfilment, order_id, "accept", SUPPLIER)
            for action, by in (("start", SUPPLIER), ("ship", SUPPLIER), ("receipt", REQUESTER)):
                await command(fulfilment, order_id, action, by)
            # past the deadline monitoring knows the fulfilment topic holds no acceptance
            records = await read_records(
                bootstrap,
                [topics.SLA],
                until=lambda rs: any(
                    e["event_type"] == "SlaBreached" for e in sla_events_of(rs, {order_id})
                ),
            )
            monitoring_service.pause()
        finally:
            await relay.close()  # the relay publishes the commands' events, acceptance first
        try:
            credited = await poll_http(
                invoicing,
                "/v1/invoices",
                headers=auth(REQUESTER),
                until=invoice_with_notes(1, order_id),
            )
        finally:
            monitoring_service.resume()
        (invoice,) = [i for i in credited.json() if i["order_id"] == order_id]
        (sla_credit,) = invoice["credit_notes"]
        assert (sla_credit["kind"], Decimal(sla_credit["amount"])) == ("sla", Decimal("7.70"))

        reversed_ = await poll_http(
            invoicing,
            "/v1/invoices",
            headers=auth(REQUESTER),
            until=invoice_with_notes(2, order_id),
        )
        await outbox_drained(start_service.database_url, "monitoring")
        records = await read_to_end(bootstrap, [topics.SLA])
        retraction = next(
            e for e in sla_events_of(records, {order_id}) if e["event_type"] == "SlaBreachRetracted"
        )
        # redelivered (a redrive of the same record): invoicing's inbox drops it
        duplicates = outcomes((await invoicing.get("/metrics")).text, "duplicate")
        (raw,) = [r for r in records if r.json.get("event_id") == retraction["event_id"]]
        await produce(bootstrap, topics.SLA, raw.value, key=raw.key, headers=raw.headers)
        await poll_http(
            invoicing,
            "/metrics",
            until=lambda r: outcomes(r.text, "duplicate") > duplicates,
        )

        await outbox_drained(start_service.database_url, "invoicing")
        sla = sla_events_of(await read_to_end(bootstrap, [topics.SLA]), {order_id})
        breaches = [e for e in sla if e["event_type"] == "SlaBreached"]
        assert [e["stage"] for e in breaches] == ["acceptance"]
        assert [e["event_type"] for e in sla].count("SlaBreachRetracted") == 2  # ours, replayed
        assert retraction["breach_event_id"] == breaches[0]["event_id"]
        assert retraction["ending_event_id"] == accepted["event_id"]
        assert retraction["ending_event_type"] == "OrderAccepted"
        assert retraction["ended_at"] <= retraction["deadline"]

        notes = await read_to_end(bootstrap, [topics.INVOICING])
        issued = [
            r.json
            for r in notes
            if r.json.get("order_id") == order_id and r.json["event_type"] == "CreditNoteIssued"
        ]
        assert [(n["kind"], Decimal(n["amount"])) for n in issued] == [
            ("sla", Decimal("7.70")),
            ("reversal", Decimal("-7.70")),
        ]
        assert issued[1]["reverses_credit_note_id"] == sla_credit["credit_note_id"]
        assert issued[1]["causation_id"] == retraction["event_id"]
        (invoice,) = [i for i in reversed_.json() if i["order_id"] == order_id]
        assert len(invoice["credit_notes"]) == 2

        read = await monitoring.get(f"/v1/orders/{order_id}/handoffs", headers=auth(REQUESTER))
        handoffs = read.json()
        acceptance = next(h for h in handoffs if h["stage"] == "acceptance")
        assert (acceptance["status"], acceptance["breach_retracted"]) == ("met", True)
        metrics_text = (await monitoring.get("/metrics")).text
        assert (
            metric_value(
                metrics_text, "supplychain_sla_breaches_retracted_total", supplier=SUPPLIER
            )
            == 1.0
        )
    print(f"relay held, breach, retraction, reversal: {time.monotonic() - started:.1f} s")
