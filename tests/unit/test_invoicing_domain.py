"""Invoicing rules: one invoice per delivered order, Decimal only (invoicing.domain, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

from invoicing.domain import invoice_for_delivery, invoice_period
from invoicing.store import DepartmentNotKnownYet
from supplychain_contracts import InvoiceLine, OrderDelivered, OrderLine, parse_event_strict
from supplychain_kit.messaging.consumer_errors import TRANSIENT_ERRORS
from support.events import order_delivered

INVOICE_ID = UUID("cccccccc-0000-4000-8000-000000000001")


def delivered(
    *lines: OrderLine, occurred_at: datetime | None = None, employee_id: str | None = None
) -> OrderDelivered:
    return order_delivered(
        occurred_at=occurred_at or datetime(2025, 3, 14, 12, 0, tzinfo=UTC),
        root_order_id=uuid4(),
        causation_id=uuid4(),
        producer="fulfilment",
        employee_id=employee_id,
        lines=lines,
        quantity=2,
        unit_price="104.50",
        currency="EUR",
    )


def test_invoice_lines_and_total_are_exact_decimals() -> None:
    event = delivered(
        OrderLine(sku="BOLT", quantity=3, unit_price=Decimal("0.10")),
        OrderLine(sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50")),
        OrderLine(sku="WHEEL-28", quantity=7, unit_price=Decimal("38.45")),
    )
    invoice = invoice_for_delivery(event, invoice_id=INVOICE_ID)
    assert invoice.lines == (
        InvoiceLine(sku="BOLT", quantity=3, unit_price=Decimal("0.10"), amount=Decimal("0.30")),
        InvoiceLine(
            sku="FRAME-CITY", quantity=2, unit_price=Decimal("104.50"), amount=Decimal("209.00")
        ),
        InvoiceLine(
            sku="WHEEL-28", quantity=7, unit_price=Decimal("38.45"), amount=Decimal("269.15")
        ),
    )
    assert invoice.total == Decimal("478.45")
    assert all(isinstance(line.amount, Decimal) for line in invoice.lines)
    assert invoice.total.as_tuple().exponent == -2
    assert invoice.total == sum((line.amount for line in invoice.lines), Decimal(0))


def test_invoice_carries_the_order_and_its_parties() -> None:
    event = delivered(employee_id="E-1001")
    invoice = invoice_for_delivery(event, invoice_id=INVOICE_ID)
    assert invoice.event_type == "InvoiceIssued"
    assert invoice.invoice_id == INVOICE_ID
    assert invoice.order_id == event.order_id
    assert invoice.root_order_id == event.root_order_id
    assert invoice.causation_id == event.event_id
    assert invoice.causation_id != event.causation_id
    assert invoice.producer == "invoicing"
    assert (invoice.supplier, invoice.requester) == ("FRAMES", "ASSEMBLY")
    assert invoice.employee_id == "E-1001"
    assert invoice.currency == "EUR"
    assert invoice.event_id != event.event_id


def test_period_is_the_month_of_delivery() -> None:
    event = delivered(occurred_at=datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC))
    assert invoice_period(event) == "2025-12"
    assert invoice_for_delivery(event, invoice_id=INVOICE_ID).period == "2025-12"
    event = delivered(occurred_at=datetime(2026, 1, 1, 0, 0, tzinfo=UTC))
    assert invoice_for_delivery(event, invoice_id=INVOICE_ID).period == "2026-01"


def test_period_uses_the_utc_month() -> None:
    # 1 March 00:30 in Berlin (+01:00) is still 28 February in UTC
    berlin = timezone(timedelta(hours=1))
    event = delivered(occurred_at=datetime(2025, 3, 1, 0, 30, tzinfo=berlin))
    assert invoice_period(event) == "2025-02"


def test_invoice_survives_the_wire() -> None:
    invoice = invoice_for_delivery(delivered(), invoice_id=INVOICE_ID)
    parsed = parse_event_strict(invoice.model_dump_json())
    assert parsed == invoice


def test_a_department_not_known_yet_is_a_transient_error_of_the_consumer() -> None:
    # the delivery waits for its department's DepartmentDefined: fetched again (for the
    # bounded INVOICING_REFERENCE_WAIT_SECONDS, then dead-lettered with this reason) and
    # never invoiced to an invented party
    error = DepartmentNotKnownYet("NEW_DEPT")
    assert isinstance(error, TRANSIENT_ERRORS)
    assert str(error) == "unknown department NEW_DEPT (not known to invoicing yet)"


def test_an_invoice_in_the_suppliers_currency_carries_the_requesters_at_the_orders_rate() -> None:
    event = delivered(
        OrderLine(sku="FRAME-CITY", quantity=3, unit_price=Decimal("33.33"))
    ).model_copy(
        update={"currency": "USD", "requester_currency": "EUR", "fx_rate": Decimal("0.9215")}
    )
    invoice = invoice_for_delivery(event, invoice_id=INVOICE_ID, legal_entity="NC-US")
    assert (invoice.currency, invoice.total) == ("USD", Decimal("99.99"))
    assert (invoice.requester_currency, invoice.fx_rate) == ("EUR", Decimal("0.9215"))
    assert invoice.requester_total == Decimal("92.14")  # 92.140785 half-up to the cent
    assert invoice.legal_entity == "NC-US"
    # the same currency on both sides: no translation
    plain = invoice_for_delivery(delivered(), invoice_id=INVOICE_ID)
    assert (plain.requester_currency, plain.fx_rate, plain.requester_total) == (None, None, None)


def test_a_delivery_posted_after_a_close_names_its_original_month() -> None:
    invoice = invoice_for_delivery(
        delivered(), invoice_id=INVOICE_ID, period="2025-04", original_period="2025-03"
    )
    assert (invoice.period, invoice.original_period) == ("2025-04", "2025-03")
