"""Credit notes: SLA service credits at the percentage the breach carried, cancellations
(invoicing.domain, pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from invoicing.domain import (
    CreditClaim,
    CreditKind,
    IssuedInvoice,
    Party,
    claim_for_breach,
    claim_for_cancellation,
    claims_for_invoice,
    credit_amount,
    credit_note_for,
    credit_note_period,
    percentage,
    sla_credit_amount,
)
from supplychain_contracts import OrderCancelled, SlaBreached, Stage

FRAMES = Party("FRAMES", "NC-MFG", "CC-1300")
ASSEMBLY = Party("ASSEMBLY", "NC-MFG", "CC-1600")
RETAIL_OPS = Party("RETAIL_OPS", "NC-RETAIL", "CC-2200")
MARCH = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def invoice(total: str = "1000.00", supplier: Party = ASSEMBLY) -> IssuedInvoice:
    return IssuedInvoice(
        invoice_id=uuid4(),
        order_id=uuid4(),
        root_order_id=uuid4(),
        supplier=supplier,
        requester=RETAIL_OPS,
        employee_id=None,
        period="2025-03",
        currency="EUR",
        total=Decimal(total),
    )


def claim(
    kind: CreditKind, *, supplier: str = "ASSEMBLY", at: datetime = MARCH, pct: str | None = None
) -> CreditClaim:
    percentage = None if pct is None else Decimal(pct)
    return CreditClaim(kind, uuid4(), supplier, "why", uuid4(), at, percentage)


def breach(stage: Stage, pct: str | None = "5") -> SlaBreached:
    order_id = uuid4()
    return SlaBreached(
        order_id=order_id,
        root_order_id=order_id,
        producer="monitoring",
        supplier="ASSEMBLY",
        requester="RETAIL_OPS",
        stage=stage,
        started_at=MARCH,
        deadline=MARCH,
        target_seconds=600,
        occurred_at=MARCH,
        service_credit_pct=None if pct is None else Decimal(pct),
    )


@pytest.mark.parametrize(
    ("total", "pct", "credit"),
    [
        ("1000.00", "5", "50.00"),
        ("46.98", "5", "2.35"),  # 2.349 -> 2.35
        ("0.10", "5", "0.01"),  # 0.005 rounds half up
        ("0.09", "5", "0.00"),  # 0.0045
        ("123.45", "0", "0.00"),
        ("123.45", "100", "123.45"),
        ("99.99", "12.5", "12.50"),  # 12.49875
    ],
)
def test_sla_credit_is_the_policy_percentage_in_cents_rounded_half_up(
    total: str, pct: str, credit: str
) -> None:
    amount = sla_credit_amount(Decimal(total), Decimal(pct))
    assert amount == Decimal(credit)
    assert amount.as_tuple().exponent == -2


def test_only_stages_the_supplier_owes_earn_a_credit() -> None:
    for stage in (Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.INVOICING, Stage.END_TO_END):
        found = claim_for_breach(breach(stage))
        assert found is not None
        assert found.kind is CreditKind.SLA_CREDIT
        assert stage.value in found.detail
        assert found.service_credit_pct == Decimal("5")
    # the requester owes the delivery stage (it confirms receipt)
    assert claim_for_breach(breach(Stage.DELIVERY)) is None


def test_a_breach_claims_the_service_credit_it_carries() -> None:
    rush = claim_for_breach(breach(Stage.FULFILMENT, pct="10"))
    assert rush is not None
    assert rush.service_credit_pct == Decimal("10")
    # published before SlaBreached carried the percentage
    older = claim_for_breach(breach(Stage.FULFILMENT, pct=None))
    assert older is not None
    assert older.service_credit_pct is None


def test_a_cancellation_credits_what_is_outstanding_and_an_sla_credit_its_percentage() -> None:
    charged = invoice("1000.00")
    cancelled = claim(CreditKind.CANCELLATION)
    sla = claim(CreditKind.SLA_CREDIT, pct="5")
    zero = Decimal("0.00")
    assert credit_amount(charged, cancelled, already_credited=zero) == Decimal("1000.00")
    assert credit_amount(charged, sla, already_credited=zero) == Decimal("50.00")
    assert credit_amount(charged, claim(CreditKind.SLA_CREDIT, pct="0"), already_credited=zero) == (
        zero
    )
    # whichever comes first, the total credited is the invoice total, never more
    after_sla = credit_amount(charged, cancelled, already_credited=Decimal("50.00"))
    assert after_sla == Decimal("950.00")
    after_cancel = credit_amount(charged, sla, already_credited=Decimal("1000.00"))
    assert after_cancel == zero


def test_a_breach_without_a_percentage_credits_nothing() -> None:
    older = claim(CreditKind.SLA_CREDIT, pct=None)
    assert credit_amount(invoice("1000.00"), older, already_credited=Decimal("0.00")) == Decimal(
        "0.00"
    )


def test_waiting_claims_settle_sla_first_and_only_for_the_invoiced_supplier() -> None:
    charged = invoice()
    cancellation = claim(CreditKind.CANCELLATION)
    sla = claim(CreditKind.SLA_CREDIT)
    other_supplier = claim(CreditKind.SLA_CREDIT, supplier="FRAMES")
    assert claims_for_invoice(charged, [cancellation, other_supplier, sla]) == [sla, cancellation]


@pytest.mark.parametrize(
    ("pct", "text"), [("10", "10"), ("10.00", "10"), ("12.50", "12.5"), ("0", "0"), ("100", "100")]
)
def test_a_percentage_reads_the_same_from_the_wire_or_the_database(pct: str, text: str) -> None:
    assert percentage(Decimal(pct)) == text


def test_a_credit_note_falls_in_its_causes_month_never_before_its_invoice() -> None:
    assert credit_note_period("2025-03", datetime(2025, 2, 27, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 4, 1, tzinfo=UTC)) == "2025-04"


def test_a_credit_note_names_its_invoice_kind_and_cause() -> None:
    charged = invoice("1000.00")
    sla = claim(CreditKind.SLA_CREDIT, pct="5")
    note_id = UUID("dddddddd-0000-4000-8000-000000000001")
    note = credit_note_for(charged, sla, amount=Decimal("50.00"), credit_note_id=note_id)
    assert note.event_type == "CreditNoteIssued"
    assert (note.credit_note_id, note.invoice_id) == (note_id, charged.invoice_id)
    assert (note.order_id, note.root_order_id) == (charged.order_id, charged.root_order_id)
    assert note.causation_id == sla.cause_event_id
    assert (note.supplier, note.requester) == ("ASSEMBLY", "RETAIL_OPS")
    assert note.amount == Decimal("50.00")
    assert note.reason == "sla_credit: why; 5% service credit"
    assert note.period == "2025-03"


def test_claims_from_events() -> None:
    order_id = uuid4()
    cancelled = OrderCancelled(
        order_id=order_id,
        root_order_id=order_id,
        producer="order-intake",
        supplier="FRAMES",
        requester="ASSEMBLY",
        reason="no longer needed",
    )
    found = claim_for_cancellation(cancelled)
    assert found.kind is CreditKind.CANCELLATION
    assert (found.order_id, found.supplier) == (order_id, "FRAMES")
    assert found.cause_event_id == cancelled.event_id
    assert found.detail == "order cancelled: no longer needed"
    assert found.service_credit_pct is None
