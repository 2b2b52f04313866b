"""Dispute rules: what is outstanding, what may be disputed, business days to escalation
(invoicing.disputes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from invoicing.disputes import add_business_days, may_settle, outstanding, pending_total, refusal
from supplychain_contracts import DisputeStatus

D = Decimal


def test_outstanding_is_the_total_less_credit_notes_and_pending_disputes() -> None:
    assert outstanding(D("100.00"), credited=D("10.00"), pending_disputes=D("30.00")) == D("60.00")
    assert outstanding(D("100.00"), credited=D("80.00"), pending_disputes=D("30.00")) == D("0.00")


def test_pending_disputes_are_the_open_and_escalated_ones() -> None:
    amounts = [
        (DisputeStatus.OPEN, D("1.00")),
        (DisputeStatus.ESCALATED, D("2.00")),
        (DisputeStatus.ACCEPTED, D("4.00")),  # credited: in the credit notes already
        (DisputeStatus.REJECTED, D("8.00")),
    ]
    assert pending_total(amounts) == D("3.00")
    assert [may_settle(s) for s in DisputeStatus] == [True, True, False, False]


@pytest.mark.parametrize(
    ("amount", "refused"),
    [("0", True), ("-1.00", True), ("0.01", False), ("60.00", False), ("60.01", True)],
)
def test_a_dispute_claims_above_zero_and_at_most_what_is_outstanding(
    amount: str, refused: bool
) -> None:
    assert (refusal(D(amount), outstanding=D("60.00"), currency="EUR") is not None) is refused


FRIDAY_NOON = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def test_business_days_skip_the_weekend() -> None:
    assert FRIDAY_NOON.weekday() == 4
    assert add_business_days(FRIDAY_NOON, 1) == FRIDAY_NOON + timedelta(days=3)  # Monday noon
    assert add_business_days(FRIDAY_NOON, 5) == FRIDAY_NOON + timedelta(days=7)
    assert add_business_days(FRIDAY_NOON, 0.25) == FRIDAY_NOON + timedelta(hours=6)
    # half a day from Friday noon ends at midnight; more runs on into Monday
    assert add_business_days(FRIDAY_NOON, 0.75) == FRIDAY_NOON + timedelta(days=2, hours=18)


def test_a_dispute_opened_on_a_weekend_counts_from_monday() -> None:
    saturday = datetime(2026, 12, 5, 15, 30, tzinfo=UTC)
    monday = datetime(2026, 12, 7, tzinfo=UTC)
    assert add_business_days(saturday, 1) == monday + timedelta(days=1)
    assert add_business_days(saturday, 0.5) == monday + timedelta(hours=12)


def test_a_dispute_amount_is_in_the_currencys_smallest_unit() -> None:
    assert refusal(D("10.005"), outstanding=D("60.00"), currency="EUR") is not None
    assert refusal(D("10.50"), outstanding=D("600"), currency="JPY") is not None
    assert refusal(D("10"), outstanding=D("600"), currency="JPY") is None
