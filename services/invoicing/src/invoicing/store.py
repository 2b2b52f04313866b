"""SQL of the invoicing service (its own schema)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import InvoiceIssued
from supplychain_contracts.company import Company


async def load_company(conn: asyncpg.Connection, company: Company) -> None:
    await conn.executemany(
        """INSERT INTO departments (code, legal_entity, cost_centre) VALUES ($1, $2, $3)
           ON CONFLICT (code) DO UPDATE SET legal_entity = EXCLUDED.legal_entity,
               cost_centre = EXCLUDED.cost_centre""",
        [(d.code, d.legal_entity, d.cost_centre) for d in company.departments],
    )


async def cost_centre(conn: asyncpg.Connection, department: str) -> str:
    value: str | None = await conn.fetchval(
        "SELECT cost_centre FROM departments WHERE code = $1", department
    )
    if value is None:
        raise LookupError(f"unknown department {department}")
    return value


async def invoice_exists(conn: asyncpg.Connection, order_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM invoices WHERE order_id = $1", order_id))


async def save_invoice(
    conn: asyncpg.Connection, invoice: InvoiceIssued, *, delivered_event_id: UUID
) -> bool:
    inserted = await conn.fetchval(
        """INSERT INTO invoices (invoice_id, order_id, root_order_id, supplier, requester,
               employee_id, supplier_cost_centre, requester_cost_centre, payroll_deduction,
               period, currency, total, issued_at, delivered_event_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
           ON CONFLICT (order_id) DO NOTHING RETURNING true""",
        invoice.invoice_id,
        invoice.order_id,
        invoice.root_order_id,
        invoice.supplier,
        invoice.requester,
        invoice.employee_id,
        await cost_centre(conn, invoice.supplier),
        await cost_centre(conn, invoice.requester),
        invoice.employee_id is not None,
        invoice.period,
        invoice.currency,
        invoice.total,
        invoice.occurred_at,
        delivered_event_id,
    )
    if not inserted:
        return False
    await conn.executemany(
        """INSERT INTO invoice_lines (invoice_id, line_no, sku, quantity, unit_price, amount)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [
            (invoice.invoice_id, n, line.sku, line.quantity, line.unit_price, line.amount)
            for n, line in enumerate(invoice.lines, 1)
        ],
    )
    return True


async def list_invoices(
    conn: asyncpg.Connection, *, department: str | None, period: str | None, limit: int, offset: int
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM invoices
           WHERE ($1::text IS NULL OR supplier = $1 OR requester = $1)
             AND ($2::text IS NULL OR period = $2)
           ORDER BY issued_at DESC, invoice_id LIMIT $3 OFFSET $4""",
        department,
        period,
        limit,
        offset,
    )
    return [dict(row) for row in rows]


async def get_invoice(conn: asyncpg.Connection, invoice_id: UUID) -> dict[str, Any] | None:
    row = await conn.fetchrow("SELECT * FROM invoices WHERE invoice_id = $1", invoice_id)
    if row is None:
        return None
    lines = await conn.fetch(
        "SELECT sku, quantity, unit_price, amount FROM invoice_lines WHERE invoice_id = $1 ORDER BY line_no",
        invoice_id,
    )
    return {**dict(row), "lines": [dict(line) for line in lines]}
