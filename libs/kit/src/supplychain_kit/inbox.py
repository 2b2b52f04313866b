"""Idempotent consumers: an event's effect is applied once per consumer."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
from supplychain_contracts.envelope import Event


async def claim(conn: asyncpg.Connection, *, consumer: str, event: Event) -> bool:
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


async def claim_many(
    conn: asyncpg.Connection, *, consumer: str, events: Sequence[Event]
) -> set[UUID]:
    """Record a batch of events in one round trip; returns the ids not applied before."""
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, event_type)
           SELECT $1, event_id, event_type FROM unnest($2::uuid[], $3::text[]) AS e(event_id, event_type)
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer,
        [event.event_id for event in events],
        [event.event_type for event in events],
    )
    return {row["event_id"] for row in rows}
