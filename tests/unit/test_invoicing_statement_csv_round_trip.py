"""A statement's CSV read back by a CSV reader gives every field as written: commas, quotes,
line breaks and any text in a free-text reason stay inside their cell (invoicing.statements)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st
from invoicing.statements import (
    CSV_COLUMNS,
    StatementDocument,
    spreadsheet_safe,
    statement,
    statement_csv,
)

AWKWARD = [
    "late, by 3 days",
    'the "rush" order',
    "line one\nline two",
    "windows\r\nbreak",
    "bare\rreturn",
    '",\n"',
    "=SUM(A1:A2)",
    "-1",
    "+41 555",
    "@here",
    "\tindented",
    "ünïcødé — 返品",
    "",
    " leading and trailing ",
]


def credit_note(reason: str, minute: int = 0) -> StatementDocument:
    invoice_id = uuid4()
    return StatementDocument(
        document="credit_note",
        document_id=uuid4(),
        invoice_id=invoice_id,
        order_id=uuid4(),
        supplier="FRAMES",
        requester="ASSEMBLY",
        employee_id="E-1,2",  # a comma in a plain field too
        issued_at=datetime(2025, 3, 1, 8, minute, tzinfo=UTC),
        currency="EUR",
        amount=Decimal("1.00"),
        reason=reason,
    )


def read_back(reasons: list[str]) -> tuple[list[dict[str, str]], list[StatementDocument]]:
    documents = [credit_note(reason, minute) for minute, reason in enumerate(reasons)]
    text = statement_csv(statement("FRAMES", "2025-03", documents))
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    return rows, documents


def check(reasons: list[str]) -> None:
    rows, documents = read_back(reasons)
    # one row per document plus 3 totals per section and the statement's: nothing split
    assert len(rows) == len(documents) + 7
    assert all(list(row) == list(CSV_COLUMNS) and None not in row for row in rows)
    written = [r for r in rows if r["document"] == "credit_note"]
    assert [r["reason"] for r in written] == [spreadsheet_safe(d.reason) for d in documents]
    assert [r["document_id"] for r in written] == [str(d.document_id) for d in documents]
    assert all(r["employee_id"] == "E-1,2" for r in written)


def test_awkward_reasons_survive_the_round_trip() -> None:
    check(AWKWARD)
    rows, _ = read_back(["=cmd|' /C calc'!A0"])
    assert rows[0]["reason"] == "'=cmd|' /C calc'!A0"  # never a formula


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(st.characters(exclude_categories=("Cs",)), max_size=30), max_size=5))
def test_any_reason_survives_the_round_trip(reasons: list[str]) -> None:
    check(reasons)
