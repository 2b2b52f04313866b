"""What the soak proves at the end, from what it read of the databases (soak.evidence) and
of the topics (every life of the broker, read to its high watermark). Each check gives its
figures and whether it held."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from invoicing.domain import CREDITED_STAGES
from supplychain_contracts import topics

from soak.evidence import IN_FLIGHT_S, Outboxes
from soak.faults import Epoch, Poison, poison_id_of
from soak.load import Placement


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict[str, Any]


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
    shipped_at = {
        e["order_id"]: datetime.fromisoformat(e["shipped_at"])
        for e in outboxes.payloads.get("OrderDelivered", [])
        if e.get("shipped_at")
    }

    def supplier_owed(breach: dict[str, Any]) -> bool:
        """An end-to-end breach is the supplier's only when it shipped after the deadline
        (the time the requester held the goods is not the supplier's)."""
        if breach["stage"] != "end_to_end":
            return True
        shipped = shipped_at.get(breach["order_id"])
        return shipped is not None and shipped > datetime.fromisoformat(breach["deadline"])

    granting = [
        b
        for b in owed_stage
        if Decimal(str(b.get("service_credit_pct") or 0)) > 0 and supplier_owed(b)
    ]
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


def no_event_lost(outboxes: Outboxes, epochs: list[Epoch], killed: set[str]) -> Check:
    """Every outbox row is sent and on its topic exactly once, across the broker's lives.
    Duplicates are counted; the relay's at-least-once allows them only across a crash, so
    only of the services whose relay may have published a batch and then lost the commit
    marking it sent (`killed`: their schemas; a SIGKILL, or a database restart)."""
    on_topics: Counter[tuple[str, str]] = Counter()
    for epoch in epochs:
        on_topics.update(epoch.events)
    unsent = lost = duplicated = extra_copies = rows = in_flight = unexplained = 0
    examples: list[str] = []
    emitted: set[tuple[str, str]] = set()
    for schema, schema_rows in outboxes.rows.items():
        for r in schema_rows:
            rows += 1
            where = (r["topic"], r["event_id"])
            emitted.add(where)
            if r["published_at"] is None:
                if r["recent"]:
                    in_flight += 1
                    continue
                unsent += 1
                examples.append(f"{schema} unsent {r['event_type']} {r['event_id']}")
            copies = on_topics.get(where, 0)
            if copies == 0:
                lost += 1
                examples.append(f"{schema} lost {r['event_type']} {r['event_id']} ({r['topic']})")
            elif copies > 1:
                duplicated += 1
                if schema not in killed:
                    unexplained += 1
                extra_copies += copies - 1
                examples.append(f"{schema} {r['event_type']} {r['event_id']} x{copies}")
    foreign = sum(n for where, n in on_topics.items() if where not in emitted)
    return Check(
        "no event lost from any outbox (every row on its topic, once)",
        unsent == 0 and lost == 0 and unexplained == 0,
        {
            "outbox rows": rows,
            "per service": {s: len(r) for s, r in outboxes.rows.items()},
            "broker lives read": len(epochs),
            "event records on the topics": sum(on_topics.values()),
            "unsent": unsent,
            f"not sent yet, younger than {IN_FLIGHT_S} s at the read (in flight)": in_flight,
            "missing from their topic": lost,
            "rows on their topic more than once (at-least-once)": duplicated,
            "extra copies": extra_copies,
            "of a service neither killed nor cut off by a database restart (not allowed)": unexplained,
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


def intake_behind(outboxes: Outboxes, statuses: dict[str, str]) -> list[dict[str, Any]]:
    """The InvoiceIssued events of the orders intake shows otherwise than `invoiced`."""
    placed = {e["order_id"] for e in outboxes.payloads.get("OrderPlaced", [])} & set(statuses)
    return sorted(
        (
            e
            for e in outboxes.payloads.get("InvoiceIssued", [])
            if e["order_id"] in placed and statuses[e["order_id"]] != "invoiced"
        ),
        key=lambda e: str(e["order_id"]),
    )


def intake_saw_the_invoices(
    outboxes: Outboxes, statuses: dict[str, str], diagnosis: list[dict[str, Any]]
) -> Check:
    """Order intake's read model: every order it placed that was invoiced shows `invoiced`
    (`diagnosis`: evidence.intake_view of those that are not)."""
    behind = sorted({e["order_id"] for e in intake_behind(outboxes, statuses)})
    return Check(
        "order intake shows every invoiced order as invoiced",
        not behind,
        {
            "orders in intake": len(statuses),
            "by status": dict(Counter(statuses.values()).most_common()),
            "invoiced, shown otherwise": len(behind),
            "examples": behind[:5],
            "of those, InvoiceIssued consumed by intake": sum(
                1 for d in diagnosis if d["consumed"]
            ),
            "diagnosis": diagnosis[:20],
        },
    )


def every_order_accepted(placements: list[Placement]) -> Check:
    accepted = [p for p in placements if p.accepted]
    return Check(
        "every order sent was accepted (retried with its key through the faults)",
        len(accepted) == len(placements),
        {
            "sent": len(placements),
            "accepted": len(accepted),
            "not accepted": [f"{p.status} {p.problem[:120]}" for p in placements if not p.accepted][
                :5
            ],
            "sent more than once (same key)": sum(1 for p in placements if p.attempts > 1),
            "distinct orders": len({p.order_id for p in accepted}),
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
