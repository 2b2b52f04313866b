"""Invoicing rules: pure, Decimal only."""

from __future__ import annotations

from decimal import Decimal
from uuid import UUID

from supplychain_contracts import InvoiceIssued, InvoiceLine, OrderDelivered

PRODUCER = "invoicing"


def invoice_period(delivered: OrderDelivered) -> str:
    """Invoices fall in the month of delivery (UTC)."""
    return delivered.occurred_at.strftime("%Y-%m")


def invoice_for_delivery(delivered: OrderDelivered, *, invoice_id: UUID) -> InvoiceIssued:
    """One invoice per delivered order, at the prices fixed when it was placed."""
    lines = tuple(
        InvoiceLine(
            sku=line.sku,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=(line.unit_price * line.quantity).quantize(Decimal("0.01")),
        )
        for line in delivered.lines
    )
    return InvoiceIssued(
        order_id=delivered.order_id,
        root_order_id=delivered.root_order_id,
        causation_id=delivered.event_id,
        producer=PRODUCER,
        supplier=delivered.supplier,
        requester=delivered.requester,
        employee_id=delivered.employee_id,
        invoice_id=invoice_id,
        period=invoice_period(delivered),
        currency=delivered.currency,
        lines=lines,
        total=sum((line.amount for line in lines), Decimal("0.00")),
    )
