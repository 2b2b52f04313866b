"""Credit notes: SLA service credits at the percentage the breach carried, for stages the
supplier owed (invoicing.domain, pure). Invoicing never credits a cancellation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest
from invoicing import domain
from invoicing.domain import (
    CreditClaim,
    CreditTerms,
    IssuedInvoice,
    Party,
    claim_amount,
    claim_for_breach,
    claim_is_owed,
    claims_for_invoice,
    credit_note_for,
    credit_note_period,
    percentage,
    sla_credit_amount,
    supplier_owed_end_to_end,
)
from supplychain_contracts import CreditKind, SlaBreached, Stage
from support.events import order_placed, sla_breached

FRAMES = Party("FRAMES", "NC-MFG", "CC-1300")
ASSEMBLY = Party("ASSEMBLY", "NC-MFG", "CC-1600")
RETAIL_OPS = Party("RETAIL_OPS", "NC-RETAIL", "CC-2200")
MARCH = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


def invoice(
    total: str = "1000.00",
    supplier: Party = ASSEMBLY,
    *,
    requester_currency: str | None = None,
    fx_rate: str | None = None,
) -> IssuedInvoice:
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
        requester_currency=requester_currency,
        fx_rate=None if fx_rate is None else Decimal(fx_rate),
    )


def claim(
    *,
    supplier: str = "ASSEMBLY",
    at: datetime = MARCH,
    pct: str | None = None,
    stage: Stage | None = Stage.FULFILMENT,
    deadline: datetime | None = None,
) -> CreditClaim:
    percentage = None if pct is None else Decimal(pct)
    return CreditClaim(uuid4(), supplier, "why", uuid4(), at, percentage, stage, deadline)


def breach(stage: Stage, pct: str | None = "5") -> SlaBreached:
    return sla_breached(
        order_placed(supplier="ASSEMBLY", requester="RETAIL_OPS"),
        stage=stage,
        started_at=MARCH,
        deadline=MARCH,
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
        assert found.kind is CreditKind.SLA
        assert stage.value in found.detail
        assert found.service_credit_pct == Decimal("5")
        assert (found.stage, found.deadline) == (stage, MARCH)
    # the requester owes the delivery stage (it confirms receipt): never credited
    assert claim_for_breach(breach(Stage.DELIVERY)) is None


def test_an_end_to_end_breach_credits_only_when_the_supplier_shipped_after_its_deadline() -> None:
    deadline = MARCH
    assert supplier_owed_end_to_end(deadline, deadline + timedelta(seconds=1))
    # shipped in time: the deadline passed while the requester held the order
    assert not supplier_owed_end_to_end(deadline, deadline - timedelta(hours=1))
    assert not supplier_owed_end_to_end(deadline, deadline)
    # a shipping time not known proves no debt
    assert not supplier_owed_end_to_end(deadline, None)
    late_e2e = claim(stage=Stage.END_TO_END, deadline=deadline)
    assert claim_is_owed(late_e2e, deadline + timedelta(minutes=5))
    assert not claim_is_owed(late_e2e, deadline - timedelta(minutes=5))
    # other stages the supplier owes do not depend on the shipping time
    assert claim_is_owed(claim(stage=Stage.FULFILMENT, deadline=deadline), None)


def test_a_breach_claims_the_service_credit_it_carries() -> None:
    rush = claim_for_breach(breach(Stage.FULFILMENT, pct="10"))
    assert rush is not None
    assert rush.service_credit_pct == Decimal("10")
    # published before SlaBreached carried the percentage
    older = claim_for_breach(breach(Stage.FULFILMENT, pct=None))
    assert older is not None
    assert older.service_credit_pct is None


def test_an_sla_credit_is_its_percentage_never_more_than_outstanding() -> None:
    charged = invoice("1000.00")
    zero = Decimal("0.00")
    assert claim_amount(charged, claim(pct="5"), already_credited=zero) == Decimal("50.00")
    assert claim_amount(charged, claim(pct="0"), already_credited=zero) == zero
    assert claim_amount(charged, claim(pct="5"), already_credited=Decimal("980.00")) == Decimal(
        "20.00"
    )
    assert claim_amount(charged, claim(pct="5"), already_credited=Decimal("1000.00")) == zero
    # a breach published before the event carried a percentage credits nothing
    assert claim_amount(charged, claim(pct=None), already_credited=zero) == zero


def test_waiting_claims_settle_oldest_first_and_only_for_the_invoiced_supplier() -> None:
    charged = invoice()
    later = claim(at=MARCH + timedelta(hours=1))
    first = claim()
    other_supplier = claim(supplier="FRAMES")
    assert claims_for_invoice(charged, [later, other_supplier, first]) == [first, later]


@pytest.mark.parametrize(
    ("pct", "text"), [("10", "10"), ("10.00", "10"), ("12.50", "12.5"), ("0", "0"), ("100", "100")]
)
def test_a_percentage_reads_the_same_from_the_wire_or_the_database(pct: str, text: str) -> None:
    assert percentage(Decimal(pct)) == text


def test_a_credit_note_falls_in_its_causes_month_never_before_its_invoice() -> None:
    assert credit_note_period("2025-03", datetime(2025, 2, 27, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 3, 31, 23, 59, tzinfo=UTC)) == "2025-03"
    assert credit_note_period("2025-03", datetime(2025, 4, 1, tzinfo=UTC)) == "2025-04"


def _terms(sla: CreditClaim, amount: str, **extra: object) -> CreditTerms:
    return CreditTerms(
        kind=CreditKind.SLA,
        amount=Decimal(amount),
        reason=domain.sla_reason(sla),
        cause_event_id=sla.cause_event_id,
        period="2025-03",
        **extra,  # type: ignore[arg-type]
    )


def test_a_credit_note_names_its_invoice_kind_cause_and_supplier_entity() -> None:
    charged = invoice("1000.00")
    sla = claim(pct="5")
    note_id = UUID("dddddddd-0000-4000-8000-000000000001")
    note = credit_note_for(charged, _terms(sla, "50.00"), credit_note_id=note_id)
    assert note.event_type == "CreditNoteIssued"
    assert (note.credit_note_id, note.invoice_id) == (note_id, charged.invoice_id)
    assert (note.order_id, note.root_order_id) == (charged.order_id, charged.root_order_id)
    assert note.causation_id == sla.cause_event_id
    assert (note.supplier, note.requester) == ("ASSEMBLY", "RETAIL_OPS")
    assert (note.kind, note.amount) == (CreditKind.SLA, Decimal("50.00"))
    assert note.reason == "sla: why; 5% service credit"
    assert (note.period, note.original_period) == ("2025-03", None)
    assert note.legal_entity == "NC-MFG"
    assert (note.requester_currency, note.fx_rate, note.requester_amount) == (None, None, None)


def test_a_credit_note_uses_its_invoices_rate_for_the_requesters_amount() -> None:
    charged = invoice("1000.00", requester_currency="USD", fx_rate="1.0850")
    note = credit_note_for(
        charged,
        _terms(claim(pct="5"), "50.00", original_period="2025-02"),
        credit_note_id=uuid4(),
    )
    assert (note.currency, note.amount) == ("EUR", Decimal("50.00"))
    assert (note.requester_currency, note.fx_rate) == ("USD", Decimal("1.0850"))
    assert note.requester_amount == Decimal("54.25")
    assert note.original_period == "2025-02"
    wire = note.model_dump(mode="json")
    assert (wire["amount"], wire["requester_amount"]) == ("50.00", "54.25")
