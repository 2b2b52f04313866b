"""Invoicing rules: pure, Decimal only, rounded by `money.round_money` and nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from uuid import UUID

from supplychain_contracts import (
    CreditKind,
    CreditNoteIssued,
    InvoiceIssued,
    InvoiceLine,
    OrderDelivered,
    SlaBreached,
    SlaBreachRetracted,
    Stage,
    follow_up,
)
from supplychain_contracts.money import percent_of, round_money, translate

PRODUCER = "invoicing"
ZERO = Decimal("0.00")


def month_of(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def invoice_period(delivered: OrderDelivered) -> str:
    """Invoices are dated in the month of delivery (UTC); a closed month posts them later."""
    return month_of(delivered.occurred_at)


@dataclass(frozen=True)
class RequesterTerms:
    """The requester's currency and the order's rate (1 order currency = rate requester
    currency), when the requester's currency is not the order's."""

    currency: str
    fx_rate: Decimal

    def translate(self, amount: Decimal) -> Decimal:
        return translate(amount, self.fx_rate, self.currency)


def requester_terms(
    order_currency: str, requester_currency: str | None, fx_rate: Decimal | None
) -> RequesterTerms | None:
    if requester_currency is None or fx_rate is None or requester_currency == order_currency:
        return None
    return RequesterTerms(requester_currency, fx_rate)


def invoice_for_delivery(
    delivered: OrderDelivered,
    *,
    invoice_id: UUID,
    legal_entity: str | None = None,
    period: str | None = None,
    original_period: str | None = None,
) -> InvoiceIssued:
    """One invoice per delivered order, in the order's (the supplier's) currency at the
    prices fixed when it was placed, posted in `period` (default: the month of delivery)."""
    currency = delivered.currency
    lines = tuple(
        InvoiceLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=round_money(line.unit_price * line.quantity, currency),
        )
        for line in delivered.lines
    )
    total = round_money(sum((line.amount for line in lines), ZERO), currency)
    terms = requester_terms(currency, delivered.requester_currency, delivered.fx_rate)
    return follow_up(
        delivered,
        InvoiceIssued,
        producer=PRODUCER,
        invoice_id=invoice_id,
        period=period or invoice_period(delivered),
        original_period=original_period,
        currency=currency,
        lines=lines,
        total=total,
        requester_currency=terms.currency if terms else None,
        fx_rate=terms.fx_rate if terms else None,
        requester_total=terms.translate(total) if terms else None,
        legal_entity=legal_entity,
    )


class DocumentKind(StrEnum):
    """The documents that post to the ledger and appear on statements."""

    INVOICE = "invoice"
    CREDIT_NOTE = "credit_note"


# --- credit notes --------------------------------------------------------------------------

# The stages whose breach earns the requester a service credit: those the supplier owes.
# `delivery` is owed by the requester (it confirms receipt), so its breach credits nobody;
# `end_to_end` credits only when the supplier still held the order at the deadline
# (supplier_owed_end_to_end).
CREDITED_STAGES = frozenset({Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.INVOICING, Stage.END_TO_END})


@dataclass(frozen=True)
class CreditClaim:
    """A breach's service credit, possibly known before the invoice exists."""

    order_id: UUID
    supplier: str
    detail: str
    cause_event_id: UUID
    caused_at: datetime
    # The SLA policy's service credit, resolved by monitoring and carried by SlaBreached;
    # None for a breach published before the event carried it (it credits nothing).
    service_credit_pct: Decimal | None = None
    # The breached stage and its deadline; None for claims stored before they were kept.
    stage: Stage | None = None
    deadline: datetime | None = None
    kind: CreditKind = CreditKind.SLA


def claim_for_breach(breach: SlaBreached) -> CreditClaim | None:
    """A breach of a stage the supplier owes claims its service credit; others claim nothing."""
    if breach.stage not in CREDITED_STAGES:
        return None
    return CreditClaim(
        order_id=breach.order_id,
        supplier=breach.supplier,
        detail=f"{breach.stage.value} stage breached its {breach.target_seconds:g}s target",
        cause_event_id=breach.event_id,
        caused_at=breach.occurred_at,
        service_credit_pct=breach.service_credit_pct,
        stage=breach.stage,
        deadline=breach.deadline,
    )


def supplier_owed_end_to_end(deadline: datetime, shipped_at: datetime | None) -> bool:
    """An end-to-end deadline the supplier missed: it shipped after it. From shipping on the
    requester holds the order (receipt is its own stage), so a deadline passed while the
    requester held it, or a shipping time not known, is no debt of the supplier."""
    return shipped_at is not None and shipped_at > deadline


def claim_is_owed(claim: CreditClaim, shipped_at: datetime | None) -> bool:
    """Whether the supplier owes the claim's credit, given when it shipped (if known)."""
    if claim.stage is Stage.END_TO_END and claim.deadline is not None:
        return supplier_owed_end_to_end(claim.deadline, shipped_at)
    return True


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
    requester_currency: str | None = None
    fx_rate: Decimal | None = None

    @property
    def requester_terms(self) -> RequesterTerms | None:
        return requester_terms(self.currency, self.requester_currency, self.fx_rate)


def percentage(pct: Decimal) -> str:
    """`10`, `12.5`: the same text whether the figure came off the wire or out of a numeric
    column (which gives `10.00`)."""
    return f"{pct.normalize():f}"


def sla_credit_amount(total: Decimal, pct: Decimal, currency: str = "EUR") -> Decimal:
    return percent_of(total, pct, currency)


def credit_note_period(invoice_period: str, caused_at: datetime) -> str:
    """A credit note is dated in the month of its cause, but never before its invoice's month
    (a breach known before delivery is credited in the invoice's period)."""
    return max(invoice_period, month_of(caused_at))


def outstanding(invoice: IssuedInvoice, already_credited: Decimal) -> Decimal:
    """What is left to credit on the invoice (never below zero)."""
    return max(ZERO, invoice.total - already_credited)


def claim_amount(
    invoice: IssuedInvoice, claim: CreditClaim, *, already_credited: Decimal
) -> Decimal:
    """What the claim credits: the percentage the breach carried of the invoice total (none
    when it carried none), never more than is still outstanding."""
    if claim.service_credit_pct is None:
        return ZERO
    wanted = sla_credit_amount(invoice.total, claim.service_credit_pct, invoice.currency)
    return min(wanted, outstanding(invoice, already_credited))


@dataclass(frozen=True)
class IssuedCredit:
    """A credit note as stored: what a reversal takes back."""

    credit_note_id: UUID
    invoice_id: UUID
    amount: Decimal


def reversal_reason(credit: IssuedCredit, retracted: SlaBreachRetracted) -> str:
    """Why a service credit is taken back: its breach was retracted by monitoring."""
    return (
        f"{CreditKind.REVERSAL.value}: credit note {credit.credit_note_id} taken back, the "
        f"{retracted.stage.value} breach was retracted (the stage ended "
        f"{retracted.ended_at.isoformat()}, by its deadline {retracted.deadline.isoformat()})"
    )


def sla_reason(claim: CreditClaim) -> str:
    if claim.service_credit_pct is None:
        return f"{claim.kind.value}: {claim.detail}"
    return f"{claim.kind.value}: {claim.detail}; {claim.service_credit_pct:g}% service credit"


@dataclass(frozen=True)
class CreditTerms:
    """What a credit note says beyond its invoice: kind, amount, why, what caused it, when it
    posts (period, and the month it is dated in when that was closed) and what it settles."""

    kind: CreditKind
    amount: Decimal
    reason: str
    cause_event_id: UUID
    period: str
    original_period: str | None = None
    dispute_id: UUID | None = None
    reverses_credit_note_id: UUID | None = None


def credit_note_for(
    invoice: IssuedInvoice,
    terms: CreditTerms,
    *,
    credit_note_id: UUID,
) -> CreditNoteIssued:
    """The credit note against the stored invoice, in its currency and at its rate. Built
    field by field, not with `follow_up`: its cause may have waited as a stored claim, and
    the order's parties are the invoice's as it froze them."""
    amount = round_money(terms.amount, invoice.currency)
    requester = invoice.requester_terms
    return CreditNoteIssued(
        order_id=invoice.order_id,
        root_order_id=invoice.root_order_id,
        causation_id=terms.cause_event_id,
        producer=PRODUCER,
        supplier=invoice.supplier.code,
        requester=invoice.requester.code,
        employee_id=invoice.employee_id,
        credit_note_id=credit_note_id,
        invoice_id=invoice.invoice_id,
        kind=terms.kind,
        period=terms.period,
        original_period=terms.original_period,
        currency=invoice.currency,
        amount=amount,
        reason=terms.reason,
        requester_currency=requester.currency if requester else None,
        fx_rate=requester.fx_rate if requester else None,
        requester_amount=requester.translate(amount) if requester else None,
        dispute_id=terms.dispute_id,
        reverses_credit_note_id=terms.reverses_credit_note_id,
        legal_entity=invoice.supplier.legal_entity,
    )


def claims_for_invoice(invoice: IssuedInvoice, claims: Sequence[CreditClaim]) -> list[CreditClaim]:
    """The waiting claims that apply to this invoice (its supplier's), oldest cause first."""
    return sorted(
        (c for c in claims if c.supplier == invoice.supplier.code), key=lambda c: c.caused_at
    )
