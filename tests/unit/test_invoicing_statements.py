"""Department statements: sections, totals, CSV with the same totals (invoicing.statements)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

from invoicing.statements import StatementDocument, render, statement, statement_csv

START = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def document(
    kind: str, supplier: str, requester: str, amount: str, minute: int, reason: str = ""
) -> StatementDocument:
    invoice_id = uuid4()
    return StatementDocument(
        document=kind,
        document_id=invoice_id if kind == "invoice" else uuid4(),
        invoice_id=invoice_id,
        order_id=uuid4(),
        supplier=supplier,
        requester=requester,
        employee_id=None,
        issued_at=START + timedelta(minutes=minute),
        currency="EUR",
        amount=Decimal(amount),
        reason=reason,
    )


DOCUMENTS = [
    document("invoice", "FRAMES", "ASSEMBLY", "209.00", 3),
    document("invoice", "METALWORKS", "FRAMES", "46.98", 1),
    document("invoice", "FRAMES", "ASSEMBLY", "104.50", 2),
    document("credit_note", "FRAMES", "ASSEMBLY", "10.45", 4, "sla_credit: late"),
    document("credit_note", "METALWORKS", "FRAMES", "46.98", 5, "=cmd|' /C calc'!A0"),
]


def test_a_statement_splits_what_the_department_charged_and_was_charged() -> None:
    frames = statement("FRAMES", "2025-03", DOCUMENTS)
    assert [d.amount for d in frames.as_supplier.invoices] == [Decimal("104.50"), Decimal("209.00")]
    assert frames.as_supplier.invoiced == Decimal("313.50")
    assert frames.as_supplier.credited == Decimal("10.45")
    assert frames.as_supplier.net == Decimal("303.05")
    assert frames.as_requester.invoiced == Decimal("46.98")
    assert frames.as_requester.credited == Decimal("46.98")
    assert frames.as_requester.net == Decimal("0.00")
    assert frames.net == Decimal("303.05")
    empty = statement("MARKETING", "2025-03", DOCUMENTS)
    assert empty.net == empty.as_supplier.invoiced == Decimal("0.00")


def test_the_csv_carries_every_document_and_the_json_totals() -> None:
    frames = statement("FRAMES", "2025-03", DOCUMENTS)
    rows = list(csv.DictReader(io.StringIO(statement_csv(frames))))
    documents = [r for r in rows if not r["document"].startswith("total_")]
    assert len(documents) == 5
    totals = {
        (r["section"], r["document"]): Decimal(r["amount"]) for r in rows if r not in documents
    }
    assert totals == {
        ("as_supplier", "total_invoiced"): frames.as_supplier.invoiced,
        ("as_supplier", "total_credited"): frames.as_supplier.credited,
        ("as_supplier", "total_net"): frames.as_supplier.net,
        ("as_requester", "total_invoiced"): frames.as_requester.invoiced,
        ("as_requester", "total_credited"): frames.as_requester.credited,
        ("as_requester", "total_net"): frames.as_requester.net,
        ("statement", "total_net"): frames.net,
    }
    supplied = [
        r for r in documents if r["section"] == "as_supplier" and r["document"] == "invoice"
    ]
    assert sum(Decimal(r["amount"]) for r in supplied) == frames.as_supplier.invoiced
    # a free-text reason cannot become a spreadsheet formula
    assert any(r["reason"].startswith("'=cmd") for r in documents)


def in_currency(d: StatementDocument, currency: str) -> StatementDocument:
    return StatementDocument(**{**d.__dict__, "currency": currency})


def test_two_currencies_are_never_added() -> None:
    documents = [
        DOCUMENTS[0],  # FRAMES supplies 209.00 EUR
        in_currency(DOCUMENTS[2], "USD"),  # and 104.50 USD
        DOCUMENTS[3],  # credits 10.45 EUR
    ]
    frames = statement("FRAMES", "2025-03", documents)
    totals = frames.as_supplier.totals
    assert {c: (t.invoiced, t.credited, t.net) for c, t in totals.items()} == {
        "EUR": (Decimal("209.00"), Decimal("10.45"), Decimal("198.55")),
        "USD": (Decimal("104.50"), Decimal("0.00"), Decimal("104.50")),
    }
    # one figure across currencies would add them: there is none
    assert frames.as_supplier.invoiced is None and frames.net is None
    assert frames.net_by_currency == {"EUR": Decimal("198.55"), "USD": Decimal("104.50")}
    rows = list(csv.DictReader(io.StringIO(statement_csv(frames))))
    nets = {(r["section"], r["currency"]) for r in rows if r["document"] == "total_net"}
    assert nets == {
        ("as_supplier", "EUR"),
        ("as_supplier", "USD"),
        ("as_requester", ""),  # nothing charged to FRAMES: one zero row
        ("statement", "EUR"),
        ("statement", "USD"),
    }


def test_a_rendered_statement_carries_the_digest_of_its_csv_and_renders_the_same_twice() -> None:
    frames = statement("FRAMES", "2025-03", [*DOCUMENTS, in_currency(DOCUMENTS[1], "USD")])
    first, again = render(frames, final=True), render(frames, final=True)
    assert first == again
    assert first.digest == "sha256:" + hashlib.sha256(first.csv_body).hexdigest()
    body = json.loads(first.json_body)
    assert body["digest"] == first.digest and body["final"] is True
    assert body["as_supplier"]["totals"]["EUR"] == {
        "invoiced": "313.50",
        "credited": "10.45",
        "net": "303.05",
    }
    assert body["as_requester"]["invoiced"] is None  # EUR and USD: no single figure
    assert body["net_by_currency"] == {"EUR": "303.05", "USD": "-46.98"}
    # the open month's live statement of the same documents has the same digest
    assert render(frames, final=False).digest == first.digest
