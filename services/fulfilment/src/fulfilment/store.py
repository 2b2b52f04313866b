"""SQL of the fulfilment service (its own schema)."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import OrderLine, OrderPlaced

from fulfilment.domain import WorkItem, WorkStatus


async def receive(
    conn: asyncpg.Connection, event: OrderPlaced, trace_headers: dict[str, str]
) -> None:
    await conn.execute(
        """INSERT INTO work_items (order_id, root_order_id, parent_order_id, supplier, requester,
               employee_id, priority, needed_by, currency, lines, status, last_event_id, trace_headers)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13::jsonb)
           ON CONFLICT (order_id) DO NOTHING""",
        event.order_id,
        event.root_order_id,
        event.parent_order_id,
        event.supplier,
        event.requester,
        event.employee_id,
        event.priority.value,
        event.needed_by,
        event.currency,
        json.dumps([line.model_dump(mode="json") for line in event.lines]),
        WorkStatus.RECEIVED.value,
        event.event_id,
        json.dumps(trace_headers),
    )


def _item(row: asyncpg.Record) -> WorkItem:
    return WorkItem(
        order_id=row["order_id"],
        root_order_id=row["root_order_id"],
        supplier=row["supplier"],
        requester=row["requester"],
        employee_id=row["employee_id"],
        status=WorkStatus(row["status"]),
        last_event_id=row["last_event_id"],
        currency=row["currency"],
        lines=tuple(OrderLine.model_validate(line) for line in json.loads(row["lines"])),
    )


async def lock_item(
    conn: asyncpg.Connection, order_id: UUID
) -> tuple[WorkItem, dict[str, str]] | None:
    """The work item, locked for this transaction (concurrent commands queue up here)."""
    row = await conn.fetchrow("SELECT * FROM work_items WHERE order_id = $1 FOR UPDATE", order_id)
    if row is None:
        return None
    return _item(row), json.loads(row["trace_headers"])


async def set_status(
    conn: asyncpg.Connection,
    order_id: UUID,
    status: WorkStatus,
    *,
    event_id: UUID,
    reason: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE work_items SET status = $2, last_event_id = $3, reason = COALESCE($4, reason),
               status_changed_at = now() WHERE order_id = $1""",
        order_id,
        status.value,
        event_id,
        reason,
    )


async def queue(conn: asyncpg.Connection, supplier: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT order_id, root_order_id, parent_order_id, requester, employee_id, priority,
                  needed_by, status, reason, received_at, status_changed_at, lines
           FROM work_items
           WHERE supplier = $1 AND status NOT IN ('delivered', 'rejected', 'cancelled')
           ORDER BY priority = 'rush' DESC, needed_by NULLS LAST, received_at""",
        supplier,
    )
    return [{**dict(row), "lines": json.loads(row["lines"])} for row in rows]


async def due_for_autopilot(
    conn: asyncpg.Connection, status: WorkStatus, *, older_than_s: float, limit: int = 50
) -> list[UUID]:
    """Items waiting in `status` for at least the delay, skipping ones another replica holds."""
    rows = await conn.fetch(
        """SELECT order_id FROM work_items
           WHERE status = $1 AND status_changed_at <= now() - make_interval(secs => $2)
           ORDER BY status_changed_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
        status.value,
        older_than_s,
        limit,
    )
    return [row["order_id"] for row in rows]
