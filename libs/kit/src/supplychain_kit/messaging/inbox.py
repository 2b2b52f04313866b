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


async def purge(conn: asyncpg.Connection, *, older_than_hours: float, limit: int = 1000) -> int:
    """Delete up to `limit` inbox rows received more than `older_than_hours` ago, oldest
    first (the `received_at` index); returns how many. Rows another replica is deleting are
    skipped (SKIP LOCKED), so several replicas may purge at once.

    Correct only while the retention exceeds how long a duplicate can still arrive: the
    topics' retention plus any replay window. An event redelivered after its row is gone
    would be applied again.
    """
    status = await conn.execute(
        """DELETE FROM inbox WHERE ctid = ANY(ARRAY(
               SELECT ctid FROM inbox
               WHERE received_at < now() - make_interval(secs => $1 * 3600)
               ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED))""",
        older_than_hours,
        limit,
    )
    return int(status.split()[-1])
