"""Consumed events: a delivered order is invoiced exactly once."""

from __future__ import annotations

from uuid import uuid4

import asyncpg
from supplychain_contracts import Envelope, OrderDelivered
from supplychain_kit import metrics, outbox

from invoicing import domain, store

SCHEMA = "invoicing"


async def apply_event(conn: asyncpg.Connection, event: Envelope) -> None:
    if isinstance(event, OrderDelivered):
        await issue_invoice(conn, event)


async def issue_invoice(conn: asyncpg.Connection, delivered: OrderDelivered) -> None:
    if await store.invoice_exists(conn, delivered.order_id):
        return
    invoice = domain.invoice_for_delivery(delivered, invoice_id=uuid4())
    if await store.save_invoice(conn, invoice, delivered_event_id=delivered.event_id):
        await outbox.append(conn, [invoice], schema=SCHEMA)
        metrics.INVOICED_AMOUNT.labels(supplier=invoice.supplier, requester=invoice.requester).inc(
            float(invoice.total)
        )
