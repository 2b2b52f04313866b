"""Fulfilment's pure rules for issue 21: settling a cancellation request, the auto-receipt
window, and the currencies of a sub-order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from fulfilment.chain import (
    Currencies,
    MissingFxRate,
    UnknownDepartment,
    blocked_by_missing_rate,
    price_sub_order,
)
from fulfilment.domain import (
    CANCELLABLE,
    CANCELLATION_REFUSALS,
    WorkItem,
    WorkStatus,
    decide,
    settle_cancellation,
)
from fulfilment.domain import Command as C
from fulfilment.receipt_window import due_at, sleep_seconds
from supplychain_contracts import (
    CancellationRefused,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    WorkCancelled,
)
from supplychain_contracts.business_time import auto_receipt_seconds
from supplychain_contracts.company import BusinessCalendar, FxRate, SlaPolicy

ORDER = UUID("aaaaaaaa-0000-4000-8000-000000000001")
SHIPPED_AT = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)  # a Friday


def item(status: WorkStatus, **changes: object) -> WorkItem:
    fields: dict[str, object] = {
        "order_id": ORDER,
        "root_order_id": ORDER,
        "supplier": "WHEELS",
        "requester": "ASSEMBLY",
        "employee_id": None,
        "status": status,
        "last_event_id": UUID(int=9),
        "currency": "USD",
        "lines": (OrderLine(sku="WHEEL-28", quantity=2, unit_price=Decimal("38.50")),),
        **changes,
    }
    return WorkItem(**fields)  # type: ignore[arg-type]


def request(reason: str = "") -> OrderCancelled:
    return OrderCancelled(
        order_id=ORDER,
        root_order_id=ORDER,
        producer="order-intake",
        supplier="WHEELS",
        requester="ASSEMBLY",
        reason=reason,
    )


# --- cancellation requests --------------------------------------------------------------------


@pytest.mark.parametrize("status", sorted(CANCELLABLE))
def test_work_that_can_still_stop_is_cancelled(status: WorkStatus) -> None:
    asked = request("no longer needed")
    settled = settle_cancellation(item(status), asked)
    assert isinstance(settled, WorkCancelled)
    assert settled.causation_id == asked.event_id
    assert (settled.order_id, settled.supplier, settled.requester) == (ORDER, "WHEELS", "ASSEMBLY")
    assert settled.reason == "no longer needed"
    assert settle_cancellation(item(status), request()).reason == "cancelled by the requester"


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (WorkStatus.SHIPPED, "already shipped"),
        (WorkStatus.DELIVERED, "already delivered"),
        (WorkStatus.REJECTED, "rejected"),
        (WorkStatus.CANCELLED, "already cancelled"),
    ],
)
def test_work_that_cannot_stop_refuses_with_the_reason(status: WorkStatus, reason: str) -> None:
    asked = request()
    settled = settle_cancellation(item(status), asked)
    assert isinstance(settled, CancellationRefused)
    assert settled.reason == reason
    assert settled.causation_id == asked.event_id
    assert settled.producer == "fulfilment"


def test_every_state_is_either_cancellable_or_refused_with_a_reason() -> None:
    assert set(WorkStatus) == set(CANCELLABLE) | set(CANCELLATION_REFUSALS)
    assert not set(CANCELLABLE) & set(CANCELLATION_REFUSALS)


# --- receipt: who confirmed, when it shipped, the order's FX --------------------------------


@pytest.mark.parametrize("confirmed_by", ["requester", "auto"])
def test_a_receipt_carries_who_confirmed_it_the_shipment_and_the_orders_fx(
    confirmed_by: str,
) -> None:
    shipped = item(
        WorkStatus.SHIPPED,
        shipped_at=SHIPPED_AT,
        requester_currency="EUR",
        fx_rate=Decimal("0.92"),
    )
    status, event = decide(shipped, C.RECEIPT, confirmed_by=confirmed_by)  # type: ignore[arg-type]
    assert status is WorkStatus.DELIVERED
    assert isinstance(event, OrderDelivered)
    assert event.confirmed_by == confirmed_by
    assert event.shipped_at == SHIPPED_AT
    assert (event.currency, event.requester_currency, event.fx_rate) == (
        "USD",
        "EUR",
        Decimal("0.92"),
    )


# --- the auto-receipt window ------------------------------------------------------------------

OFFICE = BusinessCalendar(
    time_zone="Europe/Berlin", working_days=(0, 1, 2, 3, 4), start_hour=8, end_hour=16
)


def policy(**changes: object) -> SlaPolicy:
    return SlaPolicy.model_validate(
        {"supplier": "WHEELS", "targets_seconds": {"delivery": 60}, **changes}
    )


def test_the_window_is_the_policys_business_seconds_in_its_calendar() -> None:
    office_policy = policy(calendar=OFFICE.model_dump(), auto_receipt_after_seconds=3600)
    # Friday 16:00 Berlin is after hours: the hour runs Monday 08:00-09:00
    assert due_at(SHIPPED_AT, office_policy, None) == datetime(
        2026, 12, 7, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    round_the_clock = policy(auto_receipt_after_seconds=90)
    assert due_at(SHIPPED_AT, round_the_clock, None) == SHIPPED_AT + timedelta(seconds=90)


def test_a_named_calendar_replaces_the_policys_inline_one() -> None:
    named = policy(calendar_code="OFFICE", auto_receipt_after_seconds=3600)
    assert due_at(SHIPPED_AT, named, OFFICE).astimezone(UTC) == datetime(
        2026, 12, 7, 8, 0, tzinfo=UTC
    )


def test_without_a_window_five_working_days_of_the_calendar() -> None:
    assert auto_receipt_seconds(policy(), OFFICE) == 5 * 8 * 3600
    assert auto_receipt_seconds(None, BusinessCalendar()) == 5 * 24 * 3600
    # five office days from Friday after hours: Monday to Friday of the next week
    assert due_at(SHIPPED_AT, policy(calendar=OFFICE.model_dump()), None) == datetime(
        2026, 12, 11, 16, 0, tzinfo=ZoneInfo("Europe/Berlin")
    )
    assert due_at(SHIPPED_AT, None, None) == SHIPPED_AT + timedelta(days=5)


def test_the_scan_sleeps_until_the_next_due_time_within_its_bound() -> None:
    now = SHIPPED_AT
    assert sleep_seconds(None, now, bound_s=60) == 60
    assert sleep_seconds(now + timedelta(seconds=5), now, bound_s=60) == 5
    assert sleep_seconds(now + timedelta(hours=1), now, bound_s=60) == 60
    assert sleep_seconds(now - timedelta(seconds=5), now, bound_s=60) == 0
    # a due time already passed (another replica holds it): no tight loop
    assert sleep_seconds(now - timedelta(seconds=5), now, bound_s=60, floor_s=1) == 1


# --- sub-orders in their suppliers' currencies ------------------------------------------------

CURRENCIES = Currencies(
    of_department={"METALWORKS": "USD", "FRAMES": "EUR", "PAINTSHOP": "EUR"},
    rates=(FxRate(base="EUR", quote="USD", rate=Decimal("1.0800"), valid_from=date(2026, 1, 1)),),
    day=date(2026, 12, 6),
)


def test_a_sub_order_is_priced_in_its_suppliers_currency_with_the_requesters_rate() -> None:
    same = price_sub_order("PAINTSHOP", "FRAMES", CURRENCIES)
    assert (same.currency, same.requester_currency, same.fx_rate) == ("EUR", None, None)
    other = price_sub_order("METALWORKS", "FRAMES", CURRENCIES)
    # 1 USD = 1/1.08 EUR: the inverse of the only rate given, derived
    assert (other.currency, other.requester_currency) == ("USD", "EUR")
    assert other.fx_rate == Decimal("0.9259259259")


def test_a_missing_rate_or_department_is_never_guessed() -> None:
    before = Currencies(CURRENCIES.of_department, CURRENCIES.rates, date(2025, 12, 31))
    with pytest.raises(MissingFxRate) as missing:
        price_sub_order("METALWORKS", "FRAMES", before)
    assert str(missing.value) == "no exchange rate USD/EUR valid on 2025-12-31"
    blocked = blocked_by_missing_rate(
        item(WorkStatus.ACCEPTED), missing.value, cause_id=UUID(int=1)
    )
    assert "USD/EUR" in blocked.reason and blocked.causation_id == UUID(int=1)
    with pytest.raises(UnknownDepartment):
        price_sub_order("NEWDEPT", "FRAMES", CURRENCIES)
