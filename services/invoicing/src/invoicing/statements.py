"""A department's statement for a period: what it charged and what it was charged. Pure."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
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
    amount: Decimal  # always positive: a credit note's amount reduces the invoiced total
    reason: str = ""


@dataclass(frozen=True)
class Section:
    invoices: list[StatementDocument]
    credit_notes: list[StatementDocument]

    @property
    def invoiced(self) -> Decimal:
        return sum((d.amount for d in self.invoices), ZERO)

    @property
    def credited(self) -> Decimal:
        return sum((d.amount for d in self.credit_notes), ZERO)

    @property
    def net(self) -> Decimal:
        return self.invoiced - self.credited


@dataclass(frozen=True)
class Statement:
    department: str
    period: str
    as_supplier: Section
    as_requester: Section

    @property
    def net(self) -> Decimal:
        """Charged minus charged to: positive when the department recovered more than it spent."""
        return self.as_supplier.net - self.as_requester.net


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
)


def statement_csv(statement: Statement) -> str:
    """One row per document, then total rows (`document` = total_invoiced, total_credited,
    total_net) per section and a final `statement,total_net` row: the same totals as the JSON."""
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
                )
            )
        for name, amount in (
            ("total_invoiced", section.invoiced),
            ("total_credited", section.credited),
            ("total_net", section.net),
        ):
            writer.writerow((role.value, name, *[""] * 8, amount, ""))
    writer.writerow(("statement", "total_net", *[""] * 8, statement.net, ""))
    return out.getvalue()
