"""SQL of disputes and of the evidence they carry (what invoicing consumed about the order)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts.events import OrderParties
from supplychain_kit.http.auth import Visibility

_DISPUTE = """SELECT d.*, i.period AS invoice_period FROM disputes d
    JOIN invoices i USING (invoice_id)"""
# A dispute's (and its invoice's) parties: the supplier that invoiced, the requester charged.
_PARTIES = ("d.supplier", "d.requester")


async def invoice(
    conn: asyncpg.Connection, invoice_id: UUID, *, visible: Visibility
) -> dict[str, Any] | None:
    """What a dispute needs of its invoice (None: none the caller is party to)."""
    row = await conn.fetchrow(
        f"""SELECT invoice_id, order_id, root_order_id, supplier, requester, currency, total
           FROM invoices i WHERE invoice_id = $1 AND {visible.where("i.supplier", "i.requester", param=2)}""",
        invoice_id,
        visible.party,
    )
    return None if row is None else dict(row)


async def credited(conn: asyncpg.Connection, invoice_id: UUID) -> Decimal:
    value: Decimal = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM credit_notes WHERE invoice_id = $1", invoice_id
    )
    return value


async def pending_amount(conn: asyncpg.Connection, invoice_id: UUID) -> Decimal:
    """What the invoice's disputes still waiting for the supplier claim."""
    value: Decimal = await conn.fetchval(
        """SELECT coalesce(sum(amount), 0) FROM disputes
           WHERE invoice_id = $1 AND status IN ('open', 'escalated')""",
        invoice_id,
    )
    return value


async def save(conn: asyncpg.Connection, dispute: dict[str, Any]) -> None:
    columns = ", ".join(dispute)
    values = ", ".join(f"${n}" for n in range(1, len(dispute) + 1))
    await conn.execute(f"INSERT INTO disputes ({columns}) VALUES ({values})", *dispute.values())


async def get(
    conn: asyncpg.Connection, dispute_id: UUID, *, visible: Visibility, for_update: bool = False
) -> dict[str, Any] | None:
    """The dispute, or None when there is none the caller is party to."""
    lock = " FOR UPDATE OF d" if for_update else ""
    row = await conn.fetchrow(
        f"{_DISPUTE} WHERE d.dispute_id = $1 AND {visible.where(*_PARTIES, param=2)}{lock}",
        dispute_id,
        visible.party,
    )
    return None if row is None else dict(row)


async def settle(
    conn: asyncpg.Connection,
    dispute_id: UUID,
    *,
    status: str,
    at: datetime,
    by: str,
    reason: str,
    credit_note_id: UUID | None,
) -> None:
    await conn.execute(
        """UPDATE disputes SET status = $2, settled_at = $3, settled_by = $4,
               settle_reason = $5, credit_note_id = $6
           WHERE dispute_id = $1""",
        dispute_id,
        status,
        at,
        by,
        reason,
        credit_note_id,
    )


async def listed(
    conn: asyncpg.Connection,
    *,
    visible: Visibility,
    status: str | None,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """Newest first, the disputes the caller is party to (finance: every one)."""
    rows = await conn.fetch(
        f"""{_DISPUTE}
            WHERE {visible.where(*_PARTIES, param=1)}
              AND ($2::text IS NULL OR d.status = $2)
            ORDER BY d.opened_at DESC, d.dispute_id LIMIT $3 OFFSET $4""",
        visible.party,
        status,
        limit,
        offset,
    )
    return [dict(row) for row in rows]


async def take_due(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Open disputes past their escalation time, locked; a replica scanning at the same time
    skips them (SKIP LOCKED) and takes others."""
    rows = await conn.fetch(
        f"""{_DISPUTE} WHERE d.status = 'open' AND d.escalate_at <= $1
            ORDER BY d.escalate_at LIMIT $2 FOR UPDATE OF d SKIP LOCKED""",
        now,
        limit,
    )
    return [dict(row) for row in rows]


async def mark_escalated(
    conn: asyncpg.Connection, dispute_ids: list[UUID], *, at: datetime
) -> None:
    await conn.execute(
        """UPDATE disputes SET status = 'escalated', escalated_at = $2
           WHERE dispute_id = ANY($1::uuid[])""",
        dispute_ids,
        at,
    )


async def next_due(conn: asyncpg.Connection) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT min(escalate_at) FROM disputes WHERE status = 'open'"
    )
    return value


# --- evidence ------------------------------------------------------------------------------


async def save_evidence(
    conn: asyncpg.Connection,
    events: Sequence[OrderParties],
    *,
    trace_ids: Sequence[str | None],
) -> None:
    """Note the order events, each with the trace its record carried, in one statement."""
    await conn.execute(
        """INSERT INTO order_evidence (order_id, event_id, event_type, occurred_at, trace_id)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[],
               $5::text[])
           ON CONFLICT DO NOTHING""",
        [event.order_id for event in events],
        [event.event_id for event in events],
        [event.event_type for event in events],
        [event.occurred_at for event in events],
        list(trace_ids),
    )


async def evidence(conn: asyncpg.Connection, order_id: UUID) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT event_type AS type, occurred_at, trace_id FROM order_evidence
           WHERE order_id = $1 ORDER BY occurred_at, event_id""",
        order_id,
    )
    return [dict(row) for row in rows]
