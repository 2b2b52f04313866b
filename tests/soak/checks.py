"""What the soak proves at the end, from the databases (over the services' APIs, and the
outbox tables as an operator reads them) and the topics (every life of the broker, read to
its high watermark). Each check gives its figures and whether it held."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
from invoicing.domain import CREDITED_STAGES
from supplychain_contracts import topics

from soak.faults import Epoch, Poison, poison_id_of

SCHEMAS = ("order_intake", "fulfilment", "invoicing", "monitoring")
# the outbox payload fields the checks read, by event type
WANTED = {"OrderPlaced", "OrderDelivered", "InvoiceIssued", "SlaBreached", "CreditNoteIssued"}


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict[str, Any]


@dataclass
class Outboxes:
    rows: dict[str, list[asyncpg.Record]] = field(default_factory=dict)  # schema -> rows
    payloads: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # event type -> ...


async def read_outboxes(database_url: str) -> Outboxes:
    conn = await asyncpg.connect(database_url)
    found = Outboxes()
    try:
        for schema in SCHEMAS:
            rows = await conn.fetch(
                f"SELECT event_id::text, topic, event_type, published_at, "
                f"CASE WHEN event_type = ANY($1::text[]) THEN payload END AS payload "
                f'FROM "{schema}".outbox',
                sorted(WANTED),
            )
            found.rows[schema] = rows
            for r in rows:
                if r["payload"] is not None:
                    found.payloads.setdefault(r["event_type"], []).append(json.loads(r["payload"]))
    finally:
        await conn.close()
    return found


async def read_invoices(
    invoicing_url: str, departments: list[str], periods: list[str]
) -> dict[str, dict[str, Any]]:
    """Every invoice with the credit notes against it (invoice id → invoice), from each
    department's statements as supplier of the periods (as each department reads its own)."""
    invoices: dict[str, dict[str, Any]] = {}
    notes: list[dict[str, Any]] = []
    async with httpx.AsyncClient(base_url=invoicing_url, timeout=120) as client:
        for code in departments:
            headers = {"Authorization": f"Bearer dev-{code.lower()}-1"}
            for period in periods:
                answer = await client.get(
                    f"/v1/statements/{code}", params={"period": period}, headers=headers
                )
                answer.raise_for_status()
                section = answer.json()["as_supplier"]
                for invoice in section["invoices"]:
                    invoices[invoice["invoice_id"]] = {**invoice, "credit_notes": []}
                notes += section["credit_notes"]
    for note in notes:
        # the reason says why: "<stage> stage breached its <n>s target" or "order cancelled"
        kind = "sla_credit" if " stage breached " in note["reason"] else "other"
        invoices[note["invoice_id"]]["credit_notes"].append({**note, "kind": kind})
    return invoices


async def read_trial_balance(invoicing_url: str, department: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=invoicing_url, timeout=60) as client:
        answer = await client.get(
            "/v1/ledger/trial-balance",
            headers={"Authorization": f"Bearer dev-{department.lower()}-1"},
        )
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


async def read_statuses(intake_url: str, departments: list[str]) -> dict[str, str]:
    """Order intake's status of every order each department placed (order id → status)."""
    statuses: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=intake_url, timeout=60) as client:

        async def one(code: str) -> None:
            headers = {"Authorization": f"Bearer dev-{code.lower()}-1"}
            cursor: str | None = None
            while True:
                params: dict[str, Any] = {"limit": 200}
                if cursor:
                    params["cursor"] = cursor
                page = await client.get("/v1/orders", params=params, headers=headers)
                page.raise_for_status()
                body = page.json()
                statuses.update({o["order_id"]: o["status"] for o in body["orders"]})
                cursor = body["next_cursor"]
                if not cursor:
                    return

        await asyncio.gather(*(one(code) for code in departments))
    return statuses


# --- the checks -------------------------------------------------------------------------


def invoices_match_deliveries(outboxes: Outboxes, invoices: dict[str, dict[str, Any]]) -> Check:
    delivered = Counter(e["order_id"] for e in outboxes.payloads.get("OrderDelivered", []))
    invoiced = Counter(i["order_id"] for i in invoices.values())
    twice = sorted(o for o, n in invoiced.items() if n > 1)
    never = sorted(set(delivered) - set(invoiced))
    undelivered = sorted(set(invoiced) - set(delivered))
    return Check(
        "invoices issued = orders delivered (each exactly once)",
        not twice and not never and not undelivered and len(invoiced) == len(delivered),
        {
            "orders delivered (fulfilment)": len(delivered),
            "OrderDelivered emitted more than once": sum(1 for n in delivered.values() if n > 1),
            "invoices issued (invoicing API)": len(invoices),
            "orders invoiced twice": len(twice),
            "delivered, not invoiced": len(never),
            "invoiced, not delivered": len(undelivered),
            "examples": (twice + never + undelivered)[:5],
        },
    )


def credits_match_breaches(outboxes: Outboxes, invoices: dict[str, dict[str, Any]]) -> Check:
    """An invoiced order whose supplier breached a stage it owes, under a policy granting a
    credit, gets exactly one SLA credit note; no other order gets one."""
    invoice_of = {i["order_id"]: i for i in invoices.values()}
    breaches = outboxes.payloads.get("SlaBreached", [])
    owed_stage = [b for b in breaches if b["stage"] in {s.value for s in CREDITED_STAGES}]
    granting = [b for b in owed_stage if Decimal(str(b.get("service_credit_pct") or 0)) > 0]
    owed = {
        b["order_id"]
        for b in granting
        if b["order_id"] in invoice_of and invoice_of[b["order_id"]]["supplier"] == b["supplier"]
    }
    notes = Counter(
        i["order_id"]
        for i in invoices.values()
        for n in i["credit_notes"]
        if n["kind"] == "sla_credit"
    )
    other_notes = sum(
        1 for i in invoices.values() for n in i["credit_notes"] if n["kind"] != "sla_credit"
    )
    twice = sorted(o for o, n in notes.items() if n > 1)
    missing = sorted(owed - set(notes))
    unowed = sorted(set(notes) - owed)
    return Check(
        "credit notes = breaches owed (one per invoiced order breached by its supplier)",
        not twice and not missing and not unowed,
        {
            "SlaBreached": len(breaches),
            "of a stage the supplier owes": len(owed_stage),
            "under a policy granting credit": len(granting),
            "orders owed a credit (invoiced)": len(owed),
            "SLA credit notes": sum(notes.values()),
            "orders credited twice": len(twice),
            "owed, not credited": len(missing),
            "credited, not owed": len(unowed),
            "other credit notes (cancellations)": other_notes,
            "examples": (twice + missing + unowed)[:5],
        },
    )


def trial_balance_nets_to_zero(balance: dict[str, Any]) -> Check:
    totals = {c: t for c, t in balance["totals"].items()}
    zero = all(Decimal(str(t["balance"])) == 0 for t in totals.values())
    return Check(
        "trial balance nets to zero",
        bool(balance["balanced"]) and zero and bool(totals),
        {
            "balanced": balance["balanced"],
            **{
                f"{c} debit / credit / balance": f"{t['debit']} / {t['credit']} / {t['balance']}"
                for c, t in totals.items()
            },
            "accounts": len(balance["accounts"]),
        },
    )


def no_event_lost(outboxes: Outboxes, epochs: list[Epoch]) -> Check:
    """Every outbox row is sent and on its topic exactly once, across the broker's lives
    (duplicates: the relay's at-least-once across a crash, counted)."""
    on_topics: Counter[tuple[str, str]] = Counter()
    for epoch in epochs:
        on_topics.update(epoch.events)
    unsent = lost = duplicated = extra_copies = rows = 0
    examples: list[str] = []
    emitted: set[tuple[str, str]] = set()
    for schema, schema_rows in outboxes.rows.items():
        for r in schema_rows:
            rows += 1
            where = (r["topic"], r["event_id"])
            emitted.add(where)
            if r["published_at"] is None:
                unsent += 1
                examples.append(f"{schema} unsent {r['event_type']} {r['event_id']}")
            copies = on_topics.get(where, 0)
            if copies == 0:
                lost += 1
                examples.append(f"{schema} lost {r['event_type']} {r['event_id']} ({r['topic']})")
            elif copies > 1:
                duplicated += 1
                extra_copies += copies - 1
                examples.append(f"{schema} {r['event_type']} {r['event_id']} x{copies}")
    foreign = sum(n for where, n in on_topics.items() if where not in emitted)
    return Check(
        "no event lost from any outbox (every row on its topic, once)",
        unsent == 0 and lost == 0,
        {
            "outbox rows": rows,
            "per service": {s: len(r) for s, r in outboxes.rows.items()},
            "broker lives read": len(epochs),
            "event records on the topics": sum(on_topics.values()),
            "unsent": unsent,
            "missing from their topic": lost,
            "rows on their topic more than once (at-least-once)": duplicated,
            "extra copies": extra_copies,
            "events on the topics from no outbox row read (emitted after the read)": foreign,
            "examples": examples[:5],
        },
    )


def dead_letters_are_the_poison(
    epochs: list[Epoch], poison: list[Poison], groups_by_topic: dict[str, list[str]]
) -> Check:
    expected = Counter((p.poison_id, g) for p in poison for g in groups_by_topic[p.topic])
    found: Counter[tuple[str, str]] = Counter()
    unexpected = 0
    source_ok = True
    by_id = {p.poison_id: p for p in poison}
    for epoch in epochs:
        for r in epoch.dead_letters:
            poison_id = poison_id_of(r)
            group = r.headers.get(topics.HEADER_DLQ_CONSUMER_GROUP, "")
            if poison_id not in by_id or r.value != by_id[poison_id].value:
                unexpected += 1
                continue
            found[(poison_id, group)] += 1
            source = by_id[poison_id].topic
            if r.headers.get(topics.HEADER_DLQ_SOURCE_TOPIC) != source or r.topic != (
                topics.dead_letter_topic(source)
            ):
                source_ok = False
    missing = expected - found
    doubled = found - expected
    poison_seen = sum(e.poison_seen for e in epochs)
    return Check(
        "dead-letter topics hold exactly the injected poison",
        not missing and not doubled and unexpected == 0 and source_ok,
        {
            "poison records injected": len(poison),
            "poison records seen on their topics": poison_seen,
            "dead letters expected (one per consumer group of the topic)": sum(expected.values()),
            "dead letters found": sum(len(e.dead_letters) for e in epochs),
            "missing": sum(missing.values()),
            "more than once": sum(doubled.values()),
            "dead letters not of the poison": unexpected,
            "each in its topic's .dlq, naming its source": source_ok,
        },
    )


def intake_saw_the_invoices(outboxes: Outboxes, statuses: dict[str, str]) -> Check:
    """Order intake's read model: every order it placed that was invoiced shows `invoiced`."""
    invoiced = {e["order_id"] for e in outboxes.payloads.get("InvoiceIssued", [])}
    placed = {e["order_id"] for e in outboxes.payloads.get("OrderPlaced", [])} & set(statuses)
    behind = sorted(o for o in placed & invoiced if statuses[o] != "invoiced")
    return Check(
        "order intake shows every invoiced order as invoiced",
        not behind,
        {
            "orders in intake": len(statuses),
            "by status": dict(Counter(statuses.values()).most_common()),
            "invoiced, shown otherwise": len(behind),
            "examples": behind[:5],
        },
    )


def placed_to_invoiced(outboxes: Outboxes, order_ids: set[str]) -> dict[str, Any]:
    """Seconds from OrderPlaced to InvoiceIssued (the events' occurred_at) of the orders:
    p50, p99 and max over the run, and p50/p99 of each fifth of it in the order placed (the
    system kept up when the last fifth is no slower than the first)."""
    placed = {
        e["order_id"]: datetime.fromisoformat(e["occurred_at"])
        for e in outboxes.payloads.get("OrderPlaced", [])
        if e["order_id"] in order_ids
    }
    timed = sorted(
        (
            placed[e["order_id"]],
            (datetime.fromisoformat(e["occurred_at"]) - placed[e["order_id"]]).total_seconds(),
        )
        for e in outboxes.payloads.get("InvoiceIssued", [])
        if e["order_id"] in placed
    )
    spans = [span for _, span in timed]
    fifths = [spans[i * len(spans) // 5 : (i + 1) * len(spans) // 5] for i in range(5)]
    return {
        "count": len(spans),
        "p50": quantile(spans, 50),
        "p99": quantile(spans, 99),
        "max": max(spans, default=None),
        "by_fifth": [(quantile(f, 50), quantile(f, 99)) for f in fifths],
    }


def quantile(values: list[float], q: int) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
