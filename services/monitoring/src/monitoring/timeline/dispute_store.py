"""SQL of monitoring's copy of the disputes (table `disputes`), kept from invoicing's events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import asyncpg
from supplychain_contracts import DisputeEscalated, DisputeOpened, DisputeSettled
from supplychain_kit.http.auth import Visibility

_UPSERT = """INSERT INTO disputes (dispute_id, invoice_id, order_id, supplier, requester,
                 amount, currency, reason, opened_at, escalated_at, settled_at, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (dispute_id) DO UPDATE SET
                 amount = COALESCE(disputes.amount, EXCLUDED.amount),
                 currency = COALESCE(disputes.currency, EXCLUDED.currency),
                 reason = COALESCE(disputes.reason, EXCLUDED.reason),
                 opened_at = COALESCE(disputes.opened_at, EXCLUDED.opened_at),
                 escalated_at = COALESCE(disputes.escalated_at, EXCLUDED.escalated_at),
                 settled_at = COALESCE(disputes.settled_at, EXCLUDED.settled_at),
                 outcome = COALESCE(disputes.outcome, EXCLUDED.outcome)"""


async def _upsert(
    conn: asyncpg.Connection,
    event: DisputeOpened | DisputeSettled | DisputeEscalated,
    *,
    amount: Decimal | None = None,
    currency: str | None = None,
    reason: str | None = None,
    opened_at: datetime | None = None,
    escalated_at: datetime | None = None,
    settled_at: datetime | None = None,
    outcome: str | None = None,
) -> None:
    await conn.execute(
        _UPSERT,
        event.dispute_id,
        event.invoice_id,
        event.order_id,
        event.supplier,
        event.requester,
        amount,
        currency,
        reason,
        opened_at,
        escalated_at,
        settled_at,
        outcome,
    )


async def dispute_opened(conn: asyncpg.Connection, event: DisputeOpened) -> None:
    await _upsert(
        conn,
        event,
        amount=event.amount,
        currency=event.currency,
        reason=event.reason,
        opened_at=event.occurred_at,
    )


async def dispute_escalated(conn: asyncpg.Connection, event: DisputeEscalated) -> None:
    await _upsert(conn, event, opened_at=event.opened_at, escalated_at=event.occurred_at)


async def dispute_settled(conn: asyncpg.Connection, event: DisputeSettled) -> None:
    await _upsert(
        conn,
        event,
        amount=event.amount,
        currency=event.currency,
        settled_at=event.occurred_at,
        outcome=event.outcome,
    )


async def unsettled(
    conn: asyncpg.Connection, *, limit: int, visible: Visibility
) -> list[dict[str, Any]]:
    """Disputes not settled yet that the reader is party to (all for a reader of every
    dispute), the oldest first (one only escalated so far included)."""
    rows = await conn.fetch(
        f"""SELECT dispute_id, invoice_id, order_id, supplier, requester, amount::text AS amount,
                  currency, reason, opened_at, escalated_at
           FROM disputes
           WHERE settled_at IS NULL AND {visible.where("supplier", "requester", param=2)}
           ORDER BY opened_at NULLS LAST, dispute_id
           LIMIT $1""",
        limit,
        visible.party,
    )
    return [dict(row) for row in rows]
