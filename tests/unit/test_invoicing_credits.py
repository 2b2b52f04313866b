"""Credit notes: SLA service credits, cancellations, policy matching (invoicing.domain, pure)."""

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
    SlaCreditPolicy,
    claim_for_breach,
    claim_for_cancellation,
    claims_for_invoice,
    credit_amount,
    credit_note_for,
    credit_note_period,
    matching_policy,
    sla_credit_amount,
)
from supplychain_contracts import OrderCancelled, SlaBreached, Stage
from supplychain_contracts.company import sample_company

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


def claim(kind: CreditKind, *, supplier: str = "ASSEMBLY", at: datetime = MARCH) -> CreditClaim:
    return CreditClaim(kind, uuid4(), supplier, "why", uuid4(), at)


def policy(pct: str, requester: str | None = None, priority: str | None = None) -> SlaCreditPolicy:
    return SlaCreditPolicy("ASSEMBLY", requester, priority, Decimal(pct))


def breach(stage: Stage) -> SlaBreached:
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


def test_the_most_specific_policy_wins() -> None:
    general, rush, bilateral = policy("5"), policy("10", priority="rush"), policy("7", "RETAIL_OPS")
    both = policy("12", "RETAIL_OPS", "rush")
    policies = [general, rush, bilateral, both]

    def match(requester: str, priority: str | None) -> SlaCreditPolicy | None:
        return matching_policy(
            policies, supplier="ASSEMBLY", requester=requester, priority=priority
        )

    assert match("RETAIL_OPS", "rush") == both
    assert match("RETAIL_OPS", "standard") == bilateral
    assert match("MARKETING", "rush") == rush
    assert match("MARKETING", "standard") == general
    # an order whose priority invoicing never saw matches only priority-free policies
    assert match("MARKETING", None) == general
    assert matching_policy([rush], supplier="ASSEMBLY", requester="X", priority=None) is None
    assert matching_policy(policies, supplier="FRAMES", requester="X", priority=None) is None


def test_the_sample_company_policies_credit_assembly_rush_orders_ten_percent() -> None:
    policies = [
        SlaCreditPolicy(
            p.supplier,
            p.requester,
            p.priority.value if p.priority else None,
            p.service_credit_pct,
        )
        for p in sample_company().sla_policies
    ]

    def pct(supplier: str, priority: str | None) -> Decimal | None:
        found = matching_policy(
            policies, supplier=supplier, requester="RETAIL_OPS", priority=priority
        )
        return found.service_credit_pct if found else None

    assert pct("ASSEMBLY", "rush") == Decimal("10")
    assert pct("ASSEMBLY", "standard") == Decimal("5")
    assert pct("ASSEMBLY", None) == Decimal("5")
    assert pct("EMPLOYEE_SHOP", None) == Decimal("0")
    assert pct("FRAMES", None) == Decimal("5")


def test_only_stages_the_supplier_owes_earn_a_credit() -> None:
    for stage in (Stage.ACCEPTANCE, Stage.FULFILMENT, Stage.INVOICING, Stage.END_TO_END):
        found = claim_for_breach(breach(stage))
        assert found is not None
        assert found.kind is CreditKind.SLA_CREDIT
        assert stage.value in found.detail
    # the requester owes the delivery stage (it confirms receipt)
    assert claim_for_breach(breach(Stage.DELIVERY)) is None


def test_a_cancellation_credits_what_is_outstanding_and_an_sla_credit_its_percentage() -> None:
    charged = invoice("1000.00")
    cancelled = claim(CreditKind.CANCELLATION)
    sla = claim(CreditKind.SLA_CREDIT)
    zero = Decimal("0.00")
    assert credit_amount(charged, cancelled, already_credited=zero, policy=None) == Decimal(
        "1000.00"
    )
    assert credit_amount(charged, sla, already_credited=zero, policy=policy("5")) == Decimal(
        "50.00"
    )
    assert credit_amount(charged, sla, already_credited=zero, policy=None) == zero
    # whichever comes first, the total credited is the invoice total, never more
    after_sla = credit_amount(charged, cancelled, already_credited=Decimal("50.00"), policy=None)
    assert after_sla == Decimal("950.00")
    after_cancel = credit_amount(
        charged, sla, already_credited=Decimal("1000.00"), policy=policy("5")
    )
    assert after_cancel == zero


def test_waiting_claims_settle_sla_first_and_only_for_the_invoiced_supplier() -> None:
    charged = invoice()
    cancellation = claim(CreditKind.CANCELLATION)
    sla = claim(CreditKind.SLA_CREDIT)
    other_supplier = claim(CreditKind.SLA_CREDIT, supplier="FRAMES")
    assert claims_for_invoice(charged, [cancellation, other_supplier, sla]) == [sla, cancellation]


def test_a_credit_note_falls_in_its_causes_month_never_before_its_invoice() -> None:
    assert credit_note_period("2025-03", datetime(2025, 2, 27, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 4, 1, tzinfo=UTC)) == "2025-04"


def test_a_credit_note_names_its_invoice_kind_and_cause() -> None:
    charged = invoice("1000.00")
    sla = claim(CreditKind.SLA_CREDIT)
    note_id = UUID("dddddddd-0000-4000-8000-000000000001")
    note = credit_note_for(
        charged, sla, amount=Decimal("50.00"), credit_note_id=note_id, policy=policy("5")
    )
    assert note.event_type == "CreditNoteIssued"
    assert (note.credit_note_id, note.invoice_id) == (note_id, charged.invoice_id)
    assert (note.order_id, note.root_order_id) == (charged.order_id, charged.root_order_id)
    assert note.causation_id == sla.cause_event_id
    assert (note.supplier, note.requester) == ("ASSEMBLY", "RETAIL_OPS")
    assert note.amount == Decimal("50.00")
    assert note.reason.startswith("sla_credit: ")
    assert "5% service credit" in note.reason
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
