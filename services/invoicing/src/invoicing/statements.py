"""A department's statement for a period: what it charged and what it was charged, per
currency (two currencies are never added), as JSON and CSV bytes with their digest. Pure."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from uuid import UUID

from invoicing.domain import DocumentKind

ZERO = Decimal("0.00")


class Role(StrEnum):
    AS_SUPPLIER = "as_supplier"  # what the department charged
    AS_REQUESTER = "as_requester"  # what the department was charged


@dataclass(frozen=True)
class StatementDocument:
    document: DocumentKind
    document_id: UUID
    invoice_id: UUID
    order_id: UUID
    supplier: str
    requester: str
    employee_id: str | None
    issued_at: datetime
    currency: str
    amount: Decimal  # a credit note's reduces the invoiced total (a reversal's is negative)
    reason: str = ""
    original_period: str | None = None  # the month it belongs to, when posted in a later one


@dataclass(frozen=True)
class Totals:
    """One currency's totals of a section or statement."""

    invoiced: Decimal
    credited: Decimal

    @property
    def net(self) -> Decimal:
        return self.invoiced - self.credited


def totals_by_currency(
    invoices: Iterable[StatementDocument], credit_notes: Iterable[StatementDocument]
) -> dict[str, Totals]:
    """Per currency, never across: two currencies are never added."""
    invoiced: dict[str, Decimal] = {}
    credited: dict[str, Decimal] = {}
    for d in invoices:
        invoiced[d.currency] = invoiced.get(d.currency, ZERO) + d.amount
    for d in credit_notes:
        credited[d.currency] = credited.get(d.currency, ZERO) + d.amount
    return {
        currency: Totals(invoiced.get(currency, ZERO), credited.get(currency, ZERO))
        for currency in sorted({*invoiced, *credited})
    }


def single(totals: dict[str, Totals], figure: str) -> Decimal | None:
    """A figure of the only currency (0.00 when there is none); None across currencies,
    where one figure would add two of them."""
    if not totals:
        return ZERO
    if len(totals) > 1:
        return None
    (only,) = totals.values()
    value: Decimal = getattr(only, figure)
    return value


@dataclass(frozen=True)
class Section:
    invoices: list[StatementDocument]
    credit_notes: list[StatementDocument]

    @property
    def totals(self) -> dict[str, Totals]:
        return totals_by_currency(self.invoices, self.credit_notes)

    @property
    def invoiced(self) -> Decimal | None:
        return single(self.totals, "invoiced")

    @property
    def credited(self) -> Decimal | None:
        return single(self.totals, "credited")

    @property
    def net(self) -> Decimal | None:
        return single(self.totals, "net")


@dataclass(frozen=True)
class Statement:
    department: str
    period: str
    as_supplier: Section
    as_requester: Section

    @property
    def net_by_currency(self) -> dict[str, Decimal]:
        """Charged minus charged to, per currency: positive when the department recovered
        more than it spent."""
        supplied, charged = self.as_supplier.totals, self.as_requester.totals
        return {
            currency: (supplied[currency].net if currency in supplied else ZERO)
            - (charged[currency].net if currency in charged else ZERO)
            for currency in sorted({*supplied, *charged})
        }

    @property
    def net(self) -> Decimal | None:
        """The net of the only currency (0.00 for none), None across currencies."""
        nets = self.net_by_currency
        if len(nets) > 1:
            return None
        return next(iter(nets.values()), ZERO)


def statement(department: str, period: str, documents: Iterable[StatementDocument]) -> Statement:
    documents = sorted(documents, key=lambda d: (d.issued_at, str(d.document_id)))

    def section(role: Role) -> Section:
        mine = [
            d
            for d in documents
            if (d.supplier if role is Role.AS_SUPPLIER else d.requester) == department
        ]
        return Section(
            invoices=[d for d in mine if d.document == DocumentKind.INVOICE],
            credit_notes=[d for d in mine if d.document == DocumentKind.CREDIT_NOTE],
        )

    return Statement(department, period, section(Role.AS_SUPPLIER), section(Role.AS_REQUESTER))


def spreadsheet_safe(text: str) -> str:
    """Free text (a cancellation reason) must not run as a formula when the CSV is opened."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = (
    "section",
    "document",
    "document_id",
    "invoice_id",
    "order_id",
    "supplier",
    "requester",
    "employee_id",
    "issued_at",
    "currency",
    "amount",
    "reason",
    "original_period",
)
_BLANK = [""] * 7  # document_id .. issued_at of a total row


def statement_csv(statement: Statement) -> str:
    """One row per document, then total rows (`document` = total_invoiced, total_credited,
    total_net) per section and currency and final `statement,total_net` rows per currency:
    the same totals as the JSON. A statement without documents has one zero row of each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for role in Role:
        section: Section = getattr(statement, role.value)
        for d in [*section.invoices, *section.credit_notes]:
            writer.writerow(
                (
                    role.value,
                    d.document,
                    d.document_id,
                    d.invoice_id,
                    d.order_id,
                    d.supplier,
                    d.requester,
                    d.employee_id or "",
                    d.issued_at.isoformat(),
                    d.currency,
                    d.amount,
                    spreadsheet_safe(d.reason),
                    d.original_period or "",
                )
            )
        for currency, totals in (section.totals or {"": Totals(ZERO, ZERO)}).items():
            for name, amount in (
                ("total_invoiced", totals.invoiced),
                ("total_credited", totals.credited),
                ("total_net", totals.net),
            ):
                writer.writerow((role.value, name, *_BLANK, currency, amount, "", ""))
    for currency, net in (statement.net_by_currency or {"": ZERO}).items():
        writer.writerow(("statement", "total_net", *_BLANK, currency, net, "", ""))
    return out.getvalue()


# --- the served statement: its bytes and their digest ---------------------------------------


def digest_of(csv_body: bytes) -> str:
    """A statement's digest: sha256 of its CSV bytes (the same for its JSON and CSV reads)."""
    return "sha256:" + hashlib.sha256(csv_body).hexdigest()


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _document(d: StatementDocument) -> dict[str, Any]:
    return {
        "document_id": str(d.document_id),
        "invoice_id": str(d.invoice_id),
        "order_id": str(d.order_id),
        "supplier": d.supplier,
        "requester": d.requester,
        "employee_id": d.employee_id,
        "issued_at": d.issued_at.isoformat(),
        "currency": d.currency,
        "amount": str(d.amount),
        "reason": d.reason,
        "original_period": d.original_period,
    }


def _section(section: Section) -> dict[str, Any]:
    return {
        "invoices": [_document(d) for d in section.invoices],
        "credit_notes": [_document(d) for d in section.credit_notes],
        "invoiced": _money(section.invoiced),
        "credited": _money(section.credited),
        "net": _money(section.net),
        "totals": {
            currency: {
                "invoiced": str(t.invoiced),
                "credited": str(t.credited),
                "net": str(t.net),
            }
            for currency, t in section.totals.items()
        },
    }


@dataclass(frozen=True)
class Rendered:
    """A statement as served: the JSON and CSV bytes and the digest the JSON carries."""

    json_body: bytes
    csv_body: bytes
    digest: str


def render(statement: Statement, *, final: bool) -> Rendered:
    """The bytes of both representations. `final`: the month is closed and these bytes are
    kept and served unchanged until it is reopened."""
    csv_body = statement_csv(statement).encode()
    digest = digest_of(csv_body)
    body = {
        "department": statement.department,
        "period": statement.period,
        "final": final,
        "digest": digest,
        "as_supplier": _section(statement.as_supplier),
        "as_requester": _section(statement.as_requester),
        "net": _money(statement.net),
        "net_by_currency": {c: str(net) for c, net in statement.net_by_currency.items()},
    }
    return Rendered(json.dumps(body, ensure_ascii=False).encode(), csv_body, digest)
