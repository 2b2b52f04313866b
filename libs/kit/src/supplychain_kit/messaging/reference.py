"""What a service knows of the company's reference data, whoever owns it.

The consumer notes every reference event it applies (entity key, kind, when), so
`GET /v1/reference/status` tells whether a change has reached this service.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from supplychain_contracts.reference import ReferenceEvent

from supplychain_kit.messaging import outbox


async def publish(conn: asyncpg.Connection, events: Sequence[ReferenceEvent]) -> None:
    """The owner publishes changes of its reference data (through the outbox, in the
    caller's transaction) and knows them itself."""
    await outbox.append(conn, events)
    await _note(conn, events)


async def note_seen(conn: asyncpg.Connection, event: ReferenceEvent) -> None:
    """Record the latest event of the entity (an older one arriving late changes nothing)."""
    await _note(conn, [event])


async def _note(conn: asyncpg.Connection, events: Sequence[ReferenceEvent]) -> None:
    if not events:
        return
    await conn.executemany(  # pipelined: one round trip for the whole start-up republish
        """INSERT INTO reference_seen (entity_key, kind, event_type, event_id, occurred_at, active)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (entity_key) DO UPDATE SET event_type = EXCLUDED.event_type,
               event_id = EXCLUDED.event_id, occurred_at = EXCLUDED.occurred_at,
               active = EXCLUDED.active, received_at = now()
           WHERE reference_seen.occurred_at <= EXCLUDED.occurred_at""",
        [
            (
                event.entity_key,
                event.entity_key.split(":", 1)[0],
                event.event_type,
                event.event_id,
                event.occurred_at,
                event.active,
            )
            for event in events
        ],
    )


async def status(conn: asyncpg.Connection) -> dict[str, Any]:
    """Active entities per kind, and when the latest change was received."""
    rows = await conn.fetch(
        """SELECT kind, count(*) FILTER (WHERE active) AS active, count(*) AS known,
                  max(received_at) AS last_received_at
           FROM reference_seen GROUP BY kind ORDER BY kind"""
    )
    return {
        "entities": {row["kind"]: row["active"] for row in rows},
        "known": {row["kind"]: row["known"] for row in rows},
        "last_received_at": max(
            (row["last_received_at"].isoformat() for row in rows), default=None
        ),
    }
