"""SQL of accounting periods: their state, the audit of closes and reopens, and the final
statements of closed months."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg


def _entity_lock(legal_entity: str) -> str:
    return f"invoicing-period:{legal_entity}"


async def lock_for_posting(conn: asyncpg.Connection, legal_entities: Sequence[str]) -> None:
    """Shared: postings of an entity do not wait for each other, only for its close."""
    for entity in sorted(legal_entities):
        await conn.execute(
            "SELECT pg_advisory_xact_lock_shared(hashtextextended($1, 0))", _entity_lock(entity)
        )


async def lock_for_close(conn: asyncpg.Connection, legal_entity: str) -> None:
    """Exclusive: waits for every posting of the entity in flight, holds new ones back."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _entity_lock(legal_entity)
    )


async def closed_months(
    conn: asyncpg.Connection, *, legal_entities: Sequence[str], since: str
) -> set[str]:
    rows = await conn.fetch(
        """SELECT period FROM accounting_periods
           WHERE legal_entity = ANY($1::text[]) AND status = 'closed' AND period >= $2""",
        list(legal_entities),
        since,
    )
    return {row["period"] for row in rows}
