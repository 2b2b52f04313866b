"""Idempotent consumers: an event's effect is applied once per consumer."""

from __future__ import annotations

import asyncpg
from supplychain_contracts.envelope import Envelope


async def claim(conn: asyncpg.Connection, *, consumer: str, event: Envelope) -> bool:
    """Record the event in this transaction; False when it was applied before.

    Call inside the transaction that applies the effect, so both commit or neither does.
    """
    row = await conn.fetchval(
        """INSERT INTO inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING true""",
        consumer,
        event.event_id,
        event.event_type,
    )
    return bool(row)
