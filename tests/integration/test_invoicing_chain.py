"""Invoicing over the real broker and database: a production chain is charged exactly once,
the ledger balances, SLA credits become credit notes, a cancelled order is never charged (a
refused cancellation is charged in full), statements add up."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import httpx
import pytest
from supplychain_contracts import (
    Envelope,
    OrderLine,
    OrderPlaced,
    Priority,
    SlaBreached,
    Stage,
    topics,
)
from support import Record, auth, read_records
from support.invoicing import breached as sla_breach
from support.invoicing import (
    cancellation_refused,
    delivered,
    duplicate,
    placed,
    publish,
    start_invoicing,
    wait_consumed,
    work_cancelled,
)

FINANCE = auth("FINANCE")  # the whole ledger is finance's (a department reads its own lines)

pytestmark = pytest.mark.integration

RUSH, GENERAL = Decimal("10"), Decimal("5")  # the sample company's ASSEMBLY rush, FRAMES policies


def breached(order: OrderPlaced, stage: Stage, *, pct: Decimal) -> SlaBreached:
    """A breach as monitoring publishes it: with the service credit of the policy it timed."""
    return sla_breach(order, stage).model_copy(update={"service_credit_pct": pct})


def issued(records: list[Record], event_type: str) -> dict[str, list[dict[str, Any]]]:
    """The invoicing events of each order, in topic order."""
    by_order: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        if record.headers.get("event_type") == event_type:
            by_order.setdefault(record.json["order_id"], []).append(record.json)
    return by_order


def count_of(event_type: str, at_least: int) -> Callable[[list[Record]], bool]:
    def enough(records: list[Record]) -> bool:
        return sum(r.headers.get("event_type") == event_type for r in records) >= at_least

    return enough


async def replay(bootstrap: str, events: list[Envelope]) -> int:
    """Every event twice more as it was, and once more with a new event id; how many sent."""
    again = [*events, *events, *(duplicate(e) for e in events)]
    await publish(bootstrap, *again)
    return len(again)


def csv_totals(text: str) -> dict[tuple[str, str], Decimal]:
    rows = csv.DictReader(io.StringIO(text))
    return {
        (r["section"], r["document"]): Decimal(r["amount"])
        for r in rows
        if r["document"].startswith("total_")
    }


def json_totals(statement: dict[str, Any]) -> dict[tuple[str, str], Decimal]:
    totals = {("statement", "total_net"): Decimal(statement["net"])}
    for section in ("as_supplier", "as_requester"):
        for name in ("invoiced", "credited", "net"):
            totals[(section, f"total_{name}")] = Decimal(statement[section][name])
    return totals


async def statement_both_ways(client: httpx.AsyncClient, code: str, period: str) -> dict[str, Any]:
    """The statement as JSON, after checking the CSV carries the same totals."""
    url = f"/v1/statements/{code}?period={period}"
    as_json = await client.get(url)
    as_csv = await client.get(url, headers={"Accept": "text/csv"})
    assert as_json.status_code == as_csv.status_code == 200, (as_json.text, as_csv.text)
    assert as_csv.headers["content-type"].startswith("text/csv")
    statement: dict[str, Any] = as_json.json()
    assert csv_totals(as_csv.text) == json_totals(statement)
    return statement


async def test_a_chain_is_invoiced_once_per_order_and_the_ledger_balances(
    start_service, broker
) -> None:
    invoicing = await start_invoicing(start_service, broker.bootstrap_servers)
    bootstrap = broker.bootstrap_servers
    root = uuid.uuid4()
    # RETAIL_OPS (NC-RETAIL) buys bikes from ASSEMBLY, which orders frames from FRAMES,
    # which orders tubes from METALWORKS; an employee of FRAMES buys in the employee shop.
    bikes = placed(
        root,
        supplier="ASSEMBLY",
        requester="RETAIL_OPS",
        lines=(OrderLine(sku="BIKE-CITY", quantity=2, unit_price="299.00"),),
    )
    frames = placed(
        uuid.uuid4(),
        root_order_id=root,
        supplier="FRAMES",
        requester="ASSEMBLY",
        lines=(OrderLine(sku="FRAME-CITY", quantity=2, unit_price="104.50"),),
    )
    tubes = placed(
        uuid.uuid4(),
        root_order_id=root,
        supplier="METALWORKS",
        requester="FRAMES",
        lines=(
            OrderLine(sku="TUBE-AL-6061", quantity=6, unit_price="13.50"),
            OrderLine(sku="DROPOUT-STEEL", quantity=2, unit_price="6.48"),
        ),
    )
    shop = placed(
        uuid.uuid4(),
        supplier="EMPLOYEE_SHOP",
        requester="FRAMES",
        employee_id="E-1002",
        lines=(OrderLine(sku="SHOP-BIKE-CITY", quantity=1, unit_price="384.30"),),
    )
    events: list[Envelope] = [delivered(o) for o in (tubes, frames, bikes, shop)]
    await publish(bootstrap, *events)
    records = await read_records(
        bootstrap, [topics.INVOICING], until=count_of("InvoiceIssued", 4), timeout=60
    )
    invoices = {order_id: found[0] for order_id, found in issued(records, "InvoiceIssued").items()}
    totals = {order_id: Decimal(i["total"]) for order_id, i in invoices.items()}
    assert totals == {
        str(tubes.order_id): Decimal("93.96"),  # 6 x 13.50 + 2 x 6.48
        str(frames.order_id): Decimal("209.00"),
        str(bikes.order_id): Decimal("598.00"),
        str(shop.order_id): Decimal("384.30"),
    }
    chain = [i for i in invoices.values() if i["root_order_id"] == str(root)]
    assert len(chain) == 3  # every level of the chain is charged, and rolls up to its root
    period = invoices[str(bikes.order_id)]["period"]

    async with httpx.AsyncClient(base_url=invoicing.url, timeout=30) as client:
        trial = (
            await client.get(f"/v1/ledger/trial-balance?period={period}", headers=FINANCE)
        ).json()
        assert trial["balanced"] is True
        assert trial["totals"]["EUR"]["debit"] == trial["totals"]["EUR"]["credit"]
        assert Decimal(trial["totals"]["EUR"]["balance"]) == 0
        assert {e["legal_entity"]: Decimal(e["balance"]) for e in trial["entities"]} == {
            "NC-MFG": 0,
            "NC-RETAIL": 0,
        }
        # NC-MFG is owed 598.00 for the bikes and owes 384.30 for its employee's bike
        assert [
            (e["creditor"], e["debtor"], Decimal(e["amount"]), e["matched"])
            for e in trial["eliminations"]
        ] == [("NC-MFG", "NC-RETAIL", Decimal("213.70"), True)]
        payroll = [a for a in trial["accounts"] if a["account"] == "payroll_deduction_receivable"]
        assert [(a["cost_centre"], Decimal(a["debit"])) for a in payroll] == [
            ("CC-1300", Decimal("384.30"))
        ]

        client.headers.update(auth("FRAMES"))
        frames_statement = await statement_both_ways(client, "FRAMES", period)
        assert Decimal(frames_statement["as_supplier"]["invoiced"]) == Decimal("209.00")
        assert Decimal(frames_statement["as_requester"]["invoiced"]) == Decimal("478.26")
        assert Decimal(frames_statement["net"]) == Decimal("-269.26")
        assert len(frames_statement["as_requester"]["invoices"]) == 2
        forbidden = await client.get(f"/v1/statements/ASSEMBLY?period={period}")
        assert forbidden.status_code == 403
        assert forbidden.headers["content-type"] == "application/problem+json"
        assert forbidden.json()["errors"][0]["field"] == "code"
        assert (await client.get("/v1/invoices?department=ASSEMBLY")).status_code == 403
        bad_period = await client.get("/v1/statements/FRAMES?period=2025-13")
        assert bad_period.status_code == 422

        client.headers.update(auth("ASSEMBLY"))
        first = await client.get(f"/v1/invoices?period={period}&limit=1")
        assert first.headers["X-Total-Count"] == "2"
        following = first.headers["Link"].split(";")[0].strip("<>")
        second = await client.get(following)
        assert "Link" not in second.headers
        paged = {i["order_id"] for i in first.json() + second.json()}
        assert paged == {str(frames.order_id), str(bikes.order_id)}

        # replay: the same records twice more, and the same facts under new event ids
        sent = await replay(bootstrap, events)
        await wait_consumed(client, len(events) + sent)
        await asyncio.sleep(1.0)  # let the relay publish anything (nothing) it would
        after = (
            await client.get(f"/v1/ledger/trial-balance?period={period}", headers=FINANCE)
        ).json()
        assert after == trial
        assert (await client.get(f"/v1/invoices?period={period}")).headers["X-Total-Count"] == "2"
    records = await read_records(
        bootstrap, [topics.INVOICING], until=count_of("InvoiceIssued", 4), timeout=30
    )
    assert sorted(len(found) for found in issued(records, "InvoiceIssued").values()) == [1] * 4
    assert issued(records, "CreditNoteIssued") == {}


async def test_sla_credits_become_credit_notes_exactly_once_and_a_cancelled_order_is_never_charged(
    start_service, broker
) -> None:
    invoicing = await start_invoicing(start_service, broker.bootstrap_servers)
    bootstrap = broker.bootstrap_servers
    bike = (OrderLine(sku="BIKE-CITY", quantity=2, unit_price="299.00"),)
    frame = (OrderLine(sku="FRAME-CITY", quantity=1, unit_price="104.50"),)
    # two rush orders ASSEMBLY -> RETAIL_OPS: 10 % service credit under the rush policy, which
    # monitoring resolves and its SlaBreached carries (here the test plays monitoring)
    early, late = (
        placed(
            uuid.uuid4(),
            supplier="ASSEMBLY",
            requester="RETAIL_OPS",
            lines=bike,
            priority=Priority.RUSH,
        )
        for _ in range(2)
    )
    # two orders FRAMES -> ASSEMBLY whose cancellation was requested: fulfilment settled one
    # (WorkCancelled: never invoiced, never credited) and refused the other (already shipped:
    # delivered and charged in full, no credit)
    dropped, kept = (
        placed(uuid.uuid4(), supplier="FRAMES", requester="ASSEMBLY", lines=frame) for _ in range(2)
    )
    async with httpx.AsyncClient(base_url=invoicing.url, timeout=30) as client:
        # the breach of `early` is known before its invoice; `late` breaches after it (twice,
        # in two stages the supplier owes: still one credit; and in the requester's stage)
        before = [
            breached(early, Stage.ACCEPTANCE, pct=RUSH),
            work_cancelled(dropped),
            cancellation_refused(kept),
        ]
        await publish(bootstrap, *before)
        await wait_consumed(client, len(before))
        # a delivery of the cancelled order (a bug upstream) is not invoiced
        deliveries = [delivered(early), delivered(late), delivered(kept), delivered(dropped)]
        await publish(bootstrap, *deliveries)
        await read_records(
            bootstrap, [topics.INVOICING], until=count_of("InvoiceIssued", 3), timeout=60
        )
        afterwards = [
            breached(late, Stage.FULFILMENT, pct=RUSH),
            breached(late, Stage.END_TO_END, pct=RUSH),
            breached(late, Stage.DELIVERY, pct=RUSH),  # owed by the requester: credits nothing
            breached(dropped, Stage.FULFILMENT, pct=GENERAL),  # cancelled: nothing to credit
        ]
        await publish(bootstrap, *afterwards)
        events: list[Envelope] = [*before, *deliveries, *afterwards]
        await wait_consumed(client, len(events))

        records = await read_records(
            bootstrap, [topics.INVOICING], until=count_of("CreditNoteIssued", 2), timeout=60
        )
        notes = issued(records, "CreditNoteIssued")
        credited = {order: [Decimal(n["amount"]) for n in found] for order, found in notes.items()}
        assert credited == {
            str(early.order_id): [Decimal("59.80")],  # 10 % of 598.00
            str(late.order_id): [Decimal("59.80")],  # the same, though it arrived after
        }
        invoices = issued(records, "InvoiceIssued")
        assert set(invoices) == {str(o.order_id) for o in (early, late, kept)}
        assert Decimal(invoices[str(kept.order_id)][0]["total"]) == Decimal("104.50")
        assert notes[str(late.order_id)][0]["reason"] == (
            "sla: fulfilment stage breached its 600s target; 10% service credit"
        )
        assert notes[str(late.order_id)][0]["kind"] == "sla"
        metrics = (await client.get("/metrics")).text
        assert 'supplychain_invoicing_cancelled_deliveries_total{supplier="FRAMES"} 1.0' in metrics
        # the credit known in advance follows its invoice on the order's partition
        early_events = [
            r.headers["event_type"] for r in records if r.json["order_id"] == str(early.order_id)
        ]
        assert early_events == ["InvoiceIssued", "CreditNoteIssued"]
        invoice_ids = {order: found[0]["invoice_id"] for order, found in invoices.items()}
        assert notes[str(early.order_id)][0]["invoice_id"] == invoice_ids[str(early.order_id)]

        period = notes[str(late.order_id)][0]["period"]
        client.headers.update(auth("RETAIL_OPS"))
        one = (await client.get(f"/v1/invoices/{invoice_ids[str(late.order_id)]}")).json()
        assert Decimal(one["total"]) == Decimal("598.00")  # never edited: credited beside it
        assert [(n["kind"], Decimal(n["amount"])) for n in one["credit_notes"]] == [
            ("sla", Decimal("59.80"))
        ]
        # the list shows each invoice with its lines and credit notes too, as the invoice does
        listed = (await client.get("/v1/invoices", params={"period": period})).json()
        assert {i["invoice_id"]: i for i in listed}[one["invoice_id"]] == one
        retail = await statement_both_ways(client, "RETAIL_OPS", period)
        assert Decimal(retail["as_requester"]["invoiced"]) == Decimal("1196.00")
        assert Decimal(retail["as_requester"]["credited"]) == Decimal("119.60")
        assert Decimal(retail["as_requester"]["net"]) == Decimal("1076.40")
        trial = (
            await client.get(f"/v1/ledger/trial-balance?period={period}", headers=FINANCE)
        ).json()
        assert trial["balanced"] is True
        assert [
            (e["creditor"], Decimal(e["amount"]), e["matched"]) for e in trial["eliminations"]
        ] == [("NC-MFG", Decimal("1076.40"), True)]
        assert trial["group"]["eliminated"]["balance"] == "0.00"
        revenue = {
            a["cost_centre"]: Decimal(a["credit"]) - Decimal(a["debit"])
            for a in trial["accounts"]
            if a["account"] == "internal_revenue"
        }
        # FRAMES (CC-1300) earns the refused cancellation in full, nothing of the settled one
        assert revenue == {"CC-1600": Decimal("1076.40"), "CC-1300": Decimal("104.50")}

        sent = await replay(bootstrap, events)
        await wait_consumed(client, len(events) + sent)
        await asyncio.sleep(1.0)
        assert (
            await client.get(f"/v1/ledger/trial-balance?period={period}", headers=FINANCE)
        ).json() == trial
        assert await statement_both_ways(client, "RETAIL_OPS", period) == retail
    records = await read_records(
        bootstrap, [topics.INVOICING], until=count_of("CreditNoteIssued", 2), timeout=30
    )
    assert sorted(len(found) for found in issued(records, "CreditNoteIssued").values()) == [1] * 2
    assert sorted(len(found) for found in issued(records, "InvoiceIssued").values()) == [1] * 3
