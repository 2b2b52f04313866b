"""Dispute rules: pure.

A requester disputes part of an invoice it was charged; the supplier accepts (a credit note of
kind `dispute` for the amount) or rejects it. What can be disputed is what is outstanding:
the invoice total less its credit notes (an accepted dispute's among them) and less the other
disputes still open or escalated. A dispute open longer than the configured business days
(Monday to Friday, UTC; public holidays are not skipped) is escalated to finance.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from supplychain_contracts import DisputeStatus
from supplychain_contracts.money import quantum, round_money

ZERO = Decimal("0.00")
DAY = timedelta(days=1)
# Settled disputes are final; open and escalated ones wait for the supplier.
SETTLEABLE = frozenset({DisputeStatus.OPEN, DisputeStatus.ESCALATED})
PENDING = SETTLEABLE


def outstanding(total: Decimal, *, credited: Decimal, pending_disputes: Decimal) -> Decimal:
    """What a new dispute may claim at most."""
    return max(ZERO, total - credited - pending_disputes)


def refusal(amount: Decimal, *, outstanding: Decimal, currency: str) -> str | None:
    """Why `amount` cannot be disputed, None when it can."""
    if amount <= 0:
        return "a dispute claims an amount above 0"
    if amount != round_money(amount, currency):
        return f"{amount} is finer than {currency}'s smallest unit ({quantum(currency)})"
    if amount > outstanding:
        return f"{amount} exceeds what is outstanding on the invoice ({outstanding})"
    return None


def opened_dispute(
    invoice: Mapping[str, Any],
    *,
    dispute_id: UUID,
    amount: Decimal,
    reason: str,
    by: str,
    at: datetime,
    business_days: float,
    trace_id: str | None,
) -> dict[str, Any]:
    """A new dispute of the invoice's requester, due for escalation after `business_days`."""
    return {
        "dispute_id": dispute_id,
        "invoice_id": invoice["invoice_id"],
        "order_id": invoice["order_id"],
        "root_order_id": invoice["root_order_id"],
        "supplier": invoice["supplier"],
        "requester": invoice["requester"],
        "currency": invoice["currency"],
        "amount": amount,
        "reason": reason,
        "status": DisputeStatus.OPEN.value,
        "opened_at": at,
        "opened_by": by,
        "escalate_at": add_business_days(at, business_days),
        "trace_id": trace_id,
    }


def may_settle(status: DisputeStatus) -> bool:
    return status in SETTLEABLE


def _is_business_day(moment: datetime) -> bool:
    return moment.weekday() < 5


def _next_day(moment: datetime) -> datetime:
    return (moment + DAY).replace(hour=0, minute=0, second=0, microsecond=0)


def add_business_days(start: datetime, days: float) -> datetime:
    """`start` plus `days` of business time: only Monday to Friday (UTC) counts. A start on a
    weekend counts from the Monday after it. Fractions count (tests use tiny ones)."""
    remaining = timedelta(days=days)
    moment = start.astimezone(UTC)
    while True:
        if not _is_business_day(moment):
            moment = _next_day(moment)
            continue
        left_today = _next_day(moment) - moment
        if remaining <= left_today:
            return moment + remaining
        remaining -= left_today
        moment = _next_day(moment)


def pending_total(amounts: Iterable[tuple[DisputeStatus, Decimal]]) -> Decimal:
    """The amount claimed by disputes still waiting for the supplier."""
    return sum((amount for status, amount in amounts if status in PENDING), ZERO)
