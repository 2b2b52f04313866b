"""Finance closes and reopens a month per legal entity; statements of a closed month are final.

Each command is one transaction. A close takes the entity's period lock exclusively (every
posting of the entity in flight commits first, later ones see the month closed and go to the
next open month), then keeps the JSON and CSV bytes of the statement of each department of the
entity with their digest: every later read of the month serves those bytes. A reopen drops
them (the statements are computed live again) and is audited with who, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from supplychain_contracts.envelope import utc_now

from invoicing import periods_store, statements, statements_store

CLOSED = "closed"
OPEN = "open"


class UnknownLegalEntity(Exception):
    def __init__(self, legal_entity: str) -> None:
        super().__init__(f"legal entity {legal_entity} is not known to invoicing")
        self.legal_entity = legal_entity


class NotClosed(Exception):
    def __init__(self, legal_entity: str, period: str) -> None:
        super().__init__(f"{period} of {legal_entity} is not closed: there is nothing to reopen")


@dataclass(frozen=True)
class MonthChange:
    """The month after the command; `changed` is False when it was closed already."""

    month: dict[str, Any]
    changed: bool


async def _month(conn: asyncpg.Connection, legal_entity: str, period: str) -> dict[str, Any]:
    months = await periods_store.list_months(conn, legal_entity=legal_entity, status=None)
    return next(m for m in months if m["period"] == period)


async def _locked_status(conn: asyncpg.Connection, legal_entity: str, period: str) -> str:
    """The month's status, with the entity's period lock held exclusively until commit."""
    if not await periods_store.legal_entity_known(conn, legal_entity):
        raise UnknownLegalEntity(legal_entity)
    await periods_store.lock_for_close(conn, legal_entity)
    return await periods_store.month_status(conn, legal_entity=legal_entity, period=period)


async def close_month(
    conn: asyncpg.Connection,
    *,
    legal_entity: str,
    period: str,
    by: str,
    reason: str = "",
    now: datetime | None = None,
) -> MonthChange:
    """Close the month for the entity and make its departments' statements final. Closing a
    closed month changes nothing (changed=False)."""
    now = now or utc_now()
    async with conn.transaction():
        if await _locked_status(conn, legal_entity, period) == CLOSED:
            return MonthChange(await _month(conn, legal_entity, period), changed=False)
        departments = await statements_store.departments_of(
            conn, legal_entity=legal_entity, period=period
        )
        snapshots = [
            (department, await _rendered(conn, department, period, final=True))
            for department in departments
        ]
        await statements_store.save_snapshots(
            conn, snapshots, legal_entity=legal_entity, period=period, taken_at=now
        )
        await periods_store.set_month(
            conn,
            legal_entity=legal_entity,
            period=period,
            status=CLOSED,
            at=now,
            by=by,
            reason=reason,
            statements=len(snapshots),
        )
        return MonthChange(await _month(conn, legal_entity, period), changed=True)


async def reopen_month(
    conn: asyncpg.Connection,
    *,
    legal_entity: str,
    period: str,
    by: str,
    reason: str,
    now: datetime | None = None,
) -> MonthChange:
    """Reopen a closed month: documents post into it again and its statements are live."""
    now = now or utc_now()
    async with conn.transaction():
        if await _locked_status(conn, legal_entity, period) != CLOSED:
            raise NotClosed(legal_entity, period)
        dropped = await statements_store.drop_snapshots(
            conn, legal_entity=legal_entity, period=period
        )
        await periods_store.set_month(
            conn,
            legal_entity=legal_entity,
            period=period,
            status=OPEN,
            at=now,
            by=by,
            reason=reason,
            statements=dropped,
        )
        return MonthChange(await _month(conn, legal_entity, period), changed=True)


@dataclass(frozen=True)
class ServedStatement:
    json_body: bytes
    csv_body: bytes
    digest: str
    final: bool


async def _rendered(
    conn: asyncpg.Connection, department: str, period: str, *, final: bool
) -> statements.Rendered:
    documents = await statements_store.statement_documents(
        conn, department=department, period=period
    )
    return statements.render(statements.statement(department, period, documents), final=final)


async def read_statement(
    conn: asyncpg.Connection, *, department: str, period: str
) -> ServedStatement:
    """A closed month's statement as kept when it closed (the same bytes on every read); an
    open month's computed now."""
    kept = await statements_store.snapshot(conn, department=department, period=period)
    if kept is not None:
        return ServedStatement(kept.json_body, kept.csv_body, kept.digest, final=True)
    live = await _rendered(conn, department, period, final=False)
    return ServedStatement(live.json_body, live.csv_body, live.digest, final=False)


async def list_months(
    conn: asyncpg.Connection, *, legal_entity: str | None, status: str | None
) -> list[dict[str, Any]]:
    return await periods_store.list_months(conn, legal_entity=legal_entity, status=status)
