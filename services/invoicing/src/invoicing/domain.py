"""Invoicing rules: pure, Decimal only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from uuid import UUID

from supplychain_contracts import (
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceLine,
    OrderCancelled,
    OrderDelivered,
    SlaBreached,
    Stage,
    follow_up,
)

PRODUCER = "invoicing"
CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def to_cents(amount: Decimal) -> Decimal:
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def invoice_period(delivered: OrderDelivered) -> str:
    """Invoices fall in the month of delivery (UTC)."""
    return month_of(delivered.occurred_at)


def invoice_for_delivery(delivered: OrderDelivered, *, invoice_id: UUID) -> InvoiceIssued:
    """One invoice per delivered order, at the prices fixed when it was placed."""
    lines = tuple(
        InvoiceLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=to_cents(line.unit_price * line.quantity),
        )
        for line in delivered.lines
    )
    return follow_up(
        delivered,
        InvoiceIssued,
        producer=PRODUCER,
        invoice_id=invoice_id,
        period=invoice_period(delivered),
        currency=delivered.currency,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal("0.00")),
    )


class DocumentKind(StrEnum):
    """The documents that post to the ledger and appear on statements."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


# --- credit notes --------------------------------------------------------------------------


class CreditKind(StrEnum):
    """Why a credit note is issued; an invoice carries at most one credit note of each kind."""

    SLA_CREDIT = "sla_credit"
    CANCELLATION = "cancellation"


# When both causes are waiting for the invoice, settle them in this order. The total credited
# is the same either way (a cancellation credits what is still outstanding).
SETTLEMENT_ORDER: tuple[CreditKind, ...] = (CreditKind.SLA_CREDIT, CreditKind.CANCELLATION)

# The stages whose breach earns the requester a service credit: those the supplier owes.
# `delivery` is owed by the requester (it confirms receipt), so its breach credits nobody.
CREDITED_STAGES = frozenset({Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.INVOICING, Stage.END_TO_END})


@dataclass(frozen=True)
class CreditClaim:
    """A reason to credit an order's invoice, possibly known before the invoice exists."""

    kind: CreditKind
    order_id: UUID
    supplier: str
    detail: str
    cause_event_id: UUID
    caused_at: datetime
    # The SLA policy's service credit, resolved by monitoring and carried by SlaBreached; None
    # for a cancellation, and for a breach published before the event carried it.
    service_credit_pct: Decimal | None = None


def claim_for_breach(breach: SlaBreached) -> CreditClaim | None:
    """A breach of a stage the supplier owes claims its service credit; others claim nothing."""
    if breach.stage not in CREDITED_STAGES:
        return None
    return CreditClaim(
        kind=CreditKind.SLA_CREDIT,
        order_id=breach.order_id,
        supplier=breach.supplier,
        detail=f"{breach.stage.value} stage breached its {breach.target_seconds:g}s target",
        cause_event_id=breach.event_id,
        caused_at=breach.occurred_at,
        service_credit_pct=breach.service_credit_pct,
    )


def claim_for_cancellation(cancelled: OrderCancelled) -> CreditClaim:
    return CreditClaim(
        kind=CreditKind.CANCELLATION,
        order_id=cancelled.order_id,
        supplier=cancelled.supplier,
        detail=f"order cancelled{': ' + cancelled.reason if cancelled.reason else ''}",
        cause_event_id=cancelled.event_id,
        caused_at=cancelled.occurred_at,
    )


@dataclass(frozen=True)
class Party:
    """A department as an invoice froze it."""

    code: str
    legal_entity: str
    cost_centre: str


@dataclass(frozen=True)
class IssuedInvoice:
    """An invoice as stored: what credit notes and postings are computed from."""

    invoice_id: UUID
    order_id: UUID
    root_order_id: UUID
    supplier: Party
    requester: Party
    employee_id: str | None
    period: str
    currency: str
    total: Decimal


def percentage(pct: Decimal) -> str:
    """`10`, `12.5`: the same text whether the figure came off the wire or out of a numeric
    column (which gives `10.00`)."""
    return f"{pct.normalize():f}"


def sla_credit_amount(total: Decimal, pct: Decimal) -> Decimal:
    return to_cents(total * pct / HUNDRED)


def credit_note_period(invoice_period: str, caused_at: datetime) -> str:
    """A credit note falls in the month of its cause, but never before its invoice's month
    (a breach or cancellation known before delivery is credited in the invoice's period)."""
    return max(invoice_period, month_of(caused_at))


def credit_amount(
    invoice: IssuedInvoice,
    claim: CreditClaim,
    *,
    already_credited: Decimal,
) -> Decimal:
    """What the claim credits, never more than is still outstanding on the invoice.

    A cancellation credits everything outstanding (the full amount unless an SLA credit came
    first); an SLA credit is the percentage the breach carried of the invoice total, and a
    breach that carried none (published before SlaBreached had it) credits nothing.
    """
    outstanding = invoice.total - already_credited
    if claim.kind is CreditKind.CANCELLATION:
        wanted = outstanding
    elif claim.service_credit_pct is None:
        wanted = Decimal("0.00")
    else:
        wanted = sla_credit_amount(invoice.total, claim.service_credit_pct)
    return max(Decimal("0.00"), min(wanted, outstanding))


def credit_note_for(
    invoice: IssuedInvoice,
    claim: CreditClaim,
    *,
    amount: Decimal,
    credit_note_id: UUID,
) -> CreditNoteIssued:
    """The credit note of `claim` against the stored invoice. Built field by field, not with
    `follow_up`: its cause may have waited as a stored claim, and the order's parties are
    the invoice's as it froze them."""
    if claim.kind is CreditKind.SLA_CREDIT and claim.service_credit_pct is not None:
        reason = f"{claim.kind.value}: {claim.detail}; {claim.service_credit_pct:g}% service credit"
    else:
        reason = f"{claim.kind.value}: {claim.detail}"
    return CreditNoteIssued(
        order_id=invoice.order_id,
        root_order_id=invoice.root_order_id,
        causation_id=claim.cause_event_id,
        producer=PRODUCER,
        supplier=invoice.supplier.code,
        requester=invoice.requester.code,
        employee_id=invoice.employee_id,
        credit_note_id=credit_note_id,
        invoice_id=invoice.invoice_id,
        period=credit_note_period(invoice.period, claim.caused_at),
        currency=invoice.currency,
        amount=amount,
        reason=reason,
    )


def claims_for_invoice(invoice: IssuedInvoice, claims: Sequence[CreditClaim]) -> list[CreditClaim]:
    """The waiting claims that apply to this invoice, in settlement order."""
    applicable = [c for c in claims if c.supplier == invoice.supplier.code]
    return sorted(applicable, key=lambda c: SETTLEMENT_ORDER.index(c.kind))
