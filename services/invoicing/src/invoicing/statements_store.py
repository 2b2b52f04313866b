"""SQL of department statements: the documents of a month, and the final bytes of a closed
month's statements (snapshots)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from invoicing.domain import DocumentKind
from invoicing.statements import Rendered, StatementDocument


async def statement_documents(
    conn: asyncpg.Connection, *, department: str, period: str
) -> list[StatementDocument]:
    """The invoices and credit notes the department is party to, posted in the month."""
    rows = await conn.fetch(
        """SELECT 'invoice' AS document, invoice_id AS document_id, invoice_id, order_id,
               supplier, requester, employee_id, issued_at, currency, total AS amount,
               '' AS reason, original_period
           FROM invoices WHERE period = $2 AND (supplier = $1 OR requester = $1)
           UNION ALL
           SELECT 'credit_note', credit_note_id, invoice_id, order_id, supplier, requester,
               employee_id, issued_at, currency, amount, reason, original_period
           FROM credit_notes WHERE period = $2 AND (supplier = $1 OR requester = $1)""",
        department,
        period,
    )
    return [
        StatementDocument(**{**dict(row), "document": DocumentKind(row["document"])})
        for row in rows
    ]


async def departments_of(conn: asyncpg.Connection, *, legal_entity: str, period: str) -> list[str]:
    """The departments whose statements the entity's close makes final: its departments now,
    and any party the month's invoices froze in it."""
    rows = await conn.fetch(
        """SELECT code FROM departments WHERE legal_entity = $1
           UNION SELECT supplier FROM invoices
               WHERE period = $2 AND supplier_legal_entity = $1
           UNION SELECT requester FROM invoices
               WHERE period = $2 AND requester_legal_entity = $1
           ORDER BY 1""",
        legal_entity,
        period,
    )
    return [row["code"] for row in rows]


@dataclass(frozen=True)
class Snapshot:
    json_body: bytes
    csv_body: bytes
    digest: str
    taken_at: datetime


async def save_snapshots(
    conn: asyncpg.Connection,
    snapshots: Sequence[tuple[str, Rendered]],
    *,
    legal_entity: str,
    period: str,
    taken_at: datetime,
) -> None:
    await conn.executemany(
        """INSERT INTO statement_snapshots (department, period, legal_entity, json_body,
               csv_body, digest, taken_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (department, period) DO NOTHING""",
        [
            (department, period, legal_entity, r.json_body, r.csv_body, r.digest, taken_at)
            for department, r in snapshots
        ],
    )


async def snapshot(conn: asyncpg.Connection, *, department: str, period: str) -> Snapshot | None:
    row = await conn.fetchrow(
        """SELECT json_body, csv_body, digest, taken_at FROM statement_snapshots
           WHERE department = $1 AND period = $2""",
        department,
        period,
    )
    return None if row is None else Snapshot(**dict(row))


async def drop_snapshots(conn: asyncpg.Connection, *, legal_entity: str, period: str) -> int:
    dropped = await conn.fetch(
        """DELETE FROM statement_snapshots WHERE legal_entity = $1 AND period = $2
           RETURNING department""",
        legal_entity,
        period,
    )
    return len(dropped)
