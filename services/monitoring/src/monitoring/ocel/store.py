"""What the OCEL 2.0 export reads: the recorded events of a period and what monitoring knows of
the objects they touch. Every read is a server-side cursor: call them inside one transaction
(repeatable read, so the events and the objects are one snapshot)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from monitoring.ocel.log import (
    CLOCK_STATE_AFTER,
    ClockRecord,
    CreditNoteRecord,
    InvoiceRecord,
    OrderRecord,
    RecordedEvent,
)

PREFETCH = 500


async def _rows(conn: asyncpg.Connection, query: str, *args: Any) -> AsyncIterator[asyncpg.Record]:
    async for row in conn.cursor(query, *args, prefetch=PREFETCH):
        yield row


def _payload(raw: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(raw) if raw else {}
    return payload


async def recorded_events(
    conn: asyncpg.Connection, start: datetime, end: datetime, event_types: Sequence[str]
) -> AsyncIterator[RecordedEvent]:
    """The events of these types that occurred in [start, end), in time order."""
    async for row in _rows(
        conn,
        """SELECT event_id, event_type, occurred_at, order_id, root_order_id, supplier,
                  requester, trace_id, payload::text AS payload
           FROM handoff_events
           WHERE occurred_at >= $1 AND occurred_at < $2 AND event_type = ANY($3::text[])
           ORDER BY occurred_at, event_id""",
        start,
        end,
        list(event_types),
    ):
        yield RecordedEvent(
            event_id=row["event_id"],
            event_type=row["event_type"],
            occurred_at=row["occurred_at"],
            order_id=row["order_id"],
            root_order_id=row["root_order_id"],
            supplier=row["supplier"],
            requester=row["requester"],
            trace_id=row["trace_id"],
            payload=_payload(row["payload"]),
        )


async def orders(
    conn: asyncpg.Connection, order_ids: Sequence[UUID], start: datetime, end: datetime
) -> AsyncIterator[OrderRecord]:
    """Each order as placed (or, when its OrderPlaced was not seen, as its latest event names
    it), its sub-orders, and the types and times of its events in [start, end)."""
    async for row in _rows(
        conn,
        """WITH wanted AS (SELECT DISTINCT unnest($1::uuid[]) AS order_id),
           children AS (
               SELECT c.parent_order_id AS order_id,
                      array_agg(c.order_id ORDER BY c.order_id) AS sub_order_ids
               FROM orders c JOIN wanted w ON c.parent_order_id = w.order_id
               GROUP BY c.parent_order_id)
           SELECT w.order_id,
                  coalesce(o.root_order_id, seen.root_order_id) AS root_order_id,
                  o.parent_order_id,
                  coalesce(o.supplier, seen.supplier) AS supplier,
                  coalesce(o.requester, seen.requester) AS requester,
                  o.priority, o.placed_at, o.trace_id,
                  coalesce(ch.sub_order_ids, '{}') AS sub_order_ids,
                  coalesce(h.event_types, '{}') AS event_types,
                  coalesce(h.times, '{}') AS times
           FROM wanted w
           LEFT JOIN orders o ON o.order_id = w.order_id
           LEFT JOIN children ch ON ch.order_id = w.order_id
           LEFT JOIN LATERAL (
               SELECT e.root_order_id, e.supplier, e.requester FROM handoff_events e
               WHERE e.order_id = w.order_id ORDER BY e.occurred_at DESC LIMIT 1
           ) seen ON o.order_id IS NULL
           LEFT JOIN LATERAL (
               SELECT array_agg(e.event_type ORDER BY e.occurred_at, e.event_id) AS event_types,
                      array_agg(e.occurred_at ORDER BY e.occurred_at, e.event_id) AS times
               FROM handoff_events e
               WHERE e.order_id = w.order_id AND e.occurred_at >= $2 AND e.occurred_at < $3
           ) h ON true
           ORDER BY w.order_id""",
        list(order_ids),
        start,
        end,
    ):
        yield OrderRecord(
            order_id=row["order_id"],
            root_order_id=row["root_order_id"],
            parent_order_id=row["parent_order_id"],
            supplier=row["supplier"],
            requester=row["requester"],
            priority=row["priority"],
            placed_at=row["placed_at"],
            trace_id=row["trace_id"],
            sub_order_ids=tuple(row["sub_order_ids"]),
            history=tuple(zip(row["event_types"], row["times"], strict=True)),
        )


async def invoices(
    conn: asyncpg.Connection, invoice_ids: Sequence[str]
) -> AsyncIterator[InvoiceRecord]:
    """The invoices as their InvoiceIssued named them (whenever that was)."""
    async for row in _rows(
        conn,
        """SELECT DISTINCT ON (payload->>'invoice_id') payload->>'invoice_id' AS invoice_id,
                  order_id, payload::text AS payload
           FROM handoff_events
           WHERE event_type = 'InvoiceIssued' AND payload->>'invoice_id' = ANY($1::text[])
           ORDER BY payload->>'invoice_id', occurred_at""",
        list(invoice_ids),
    ):
        yield InvoiceRecord(row["invoice_id"], row["order_id"], _payload(row["payload"]))


async def credit_notes(
    conn: asyncpg.Connection, credit_note_ids: Sequence[str]
) -> AsyncIterator[CreditNoteRecord]:
    """The credit notes as their CreditNoteIssued named them (whenever that was)."""
    async for row in _rows(
        conn,
        """SELECT DISTINCT ON (payload->>'credit_note_id')
                  payload->>'credit_note_id' AS credit_note_id, order_id, payload::text AS payload
           FROM handoff_events
           WHERE event_type = 'CreditNoteIssued'
             AND payload->>'credit_note_id' = ANY($1::text[])
           ORDER BY payload->>'credit_note_id', occurred_at""",
        list(credit_note_ids),
    ):
        yield CreditNoteRecord(row["credit_note_id"], row["order_id"], _payload(row["payload"]))


async def clocks(
    conn: asyncpg.Connection, order_ids: Sequence[UUID], start: datetime, end: datetime
) -> AsyncIterator[ClockRecord]:
    """Each stage clock of these orders with SLA events in [start, end), with those events."""
    current: tuple[UUID, str] | None = None
    events: list[tuple[str, datetime, dict[str, Any]]] = []
    async for row in _rows(
        conn,
        """SELECT order_id, payload->>'stage' AS stage, event_type, occurred_at,
                  payload::text AS payload
           FROM handoff_events
           WHERE order_id = ANY($1::uuid[]) AND event_type = ANY($2::text[])
             AND occurred_at >= $3 AND occurred_at < $4 AND payload ? 'stage'
           ORDER BY order_id, stage, occurred_at, event_id""",
        list(order_ids),
        list(CLOCK_STATE_AFTER),
        start,
        end,
    ):
        key = (row["order_id"], row["stage"])
        if key != current:
            if current is not None:
                yield ClockRecord(current[0], current[1], tuple(events))
            current, events = key, []
        events.append((row["event_type"], row["occurred_at"], _payload(row["payload"])))
    if current is not None:
        yield ClockRecord(current[0], current[1], tuple(events))
