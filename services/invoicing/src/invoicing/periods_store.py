"""SQL of accounting periods: their state, the audit of closes and reopens, and the final
statements of closed months."""

from __future__ import annotations

import json
from collections.abc import Collection
from datetime import datetime
from typing import Any

import asyncpg


def _entity_lock(legal_entity: str) -> str:
    return f"invoicing-period:{legal_entity}"


async def lock_for_posting(conn: asyncpg.Connection, legal_entities: Collection[str]) -> None:
    """Shared: postings of an entity do not wait for each other, only for its close. One
    statement, the entities' locks in the order of their codes (unnest yields the array in
    order)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock_shared(hashtextextended(key, 0)) FROM unnest($1::text[]) AS key",
        [_entity_lock(entity) for entity in sorted(set(legal_entities))],
    )


async def lock_for_close(conn: asyncpg.Connection, legal_entity: str) -> None:
    """Exclusive: waits for every posting of the entity in flight, holds new ones back."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _entity_lock(legal_entity)
    )


async def closed_months(
    conn: asyncpg.Connection, *, legal_entities: Collection[str], since: str
) -> dict[str, set[str]]:
    """The closed months from `since` on, per legal entity (those with none left out)."""
    rows = await conn.fetch(
        """SELECT legal_entity, period FROM accounting_periods
           WHERE legal_entity = ANY($1::text[]) AND status = 'closed' AND period >= $2""",
        list(legal_entities),
        since,
    )
    closed: dict[str, set[str]] = {}
    for row in rows:
        closed.setdefault(row["legal_entity"], set()).add(row["period"])
    return closed


async def legal_entity_known(conn: asyncpg.Connection, legal_entity: str) -> bool:
    """Invoicing knows a legal entity from its owner's events (LegalEntityDefined, or a
    department in it)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM legal_entities WHERE code = $1)
                   OR EXISTS (SELECT 1 FROM departments WHERE legal_entity = $1)""",
            legal_entity,
        )
    )


async def month_status(conn: asyncpg.Connection, *, legal_entity: str, period: str) -> str:
    """'closed' or 'open' (a month without a row is open); the row is locked when it exists."""
    status: str | None = await conn.fetchval(
        """SELECT status FROM accounting_periods WHERE legal_entity = $1 AND period = $2
           FOR UPDATE""",
        legal_entity,
        period,
    )
    return status or "open"


async def set_month(
    conn: asyncpg.Connection,
    *,
    legal_entity: str,
    period: str,
    status: str,
    at: datetime,
    by: str,
    reason: str,
    statements: int,
) -> None:
    """The month's new status, and the change in its audit trail (one statement each)."""
    closing = status == "closed"
    await conn.execute(
        """INSERT INTO accounting_periods (legal_entity, period, status, closed_at, closed_by)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (legal_entity, period) DO UPDATE SET status = EXCLUDED.status,
               closed_at = EXCLUDED.closed_at, closed_by = EXCLUDED.closed_by""",
        legal_entity,
        period,
        status,
        at if closing else None,
        by if closing else None,
    )
    await conn.execute(
        """INSERT INTO period_changes (legal_entity, period, action, changed_at, changed_by,
               reason, statements)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        legal_entity,
        period,
        "closed" if closing else "reopened",
        at,
        by,
        reason,
        statements,
    )


async def list_months(
    conn: asyncpg.Connection, *, legal_entity: str | None, status: str | None
) -> list[dict[str, Any]]:
    """Every month finance ever closed, with its history of closes and reopens, oldest first."""
    rows = await conn.fetch(
        """SELECT p.legal_entity, p.period, p.status, p.closed_at, p.closed_by,
               coalesce(jsonb_agg(jsonb_build_object(
                   'action', c.action, 'at', c.changed_at, 'by', c.changed_by,
                   'reason', c.reason, 'statements', c.statements) ORDER BY c.change_id)
                 FILTER (WHERE c.change_id IS NOT NULL), '[]') AS history
           FROM accounting_periods p
           LEFT JOIN period_changes c USING (legal_entity, period)
           WHERE ($1::text IS NULL OR p.legal_entity = $1) AND ($2::text IS NULL OR p.status = $2)
           GROUP BY p.legal_entity, p.period
           ORDER BY p.legal_entity, p.period""",
        legal_entity,
        status,
    )
    return [{**dict(row), "history": json.loads(row["history"])} for row in rows]
