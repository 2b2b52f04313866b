"""SQL of the fulfilment service (its own schema)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import OrderLine, OrderPlaced, Priority
from supplychain_contracts.company import BusinessCalendar, FxRate, SlaPolicy
from supplychain_kit.http.auth import Visibility

from fulfilment.chain import Catalogue, CatalogueEntry, Reported
from fulfilment.domain import HelpRequest, HelpStatus, HelpStep, SubOrder, WorkItem, WorkStatus


async def save_catalogue_entry(
    conn: asyncpg.Connection, entry: CatalogueEntry, *, changed_at: datetime
) -> None:
    """Insert or replace the item, unless a later change of it is already stored (an older
    change arriving late changes nothing)."""
    await conn.execute(
        """INSERT INTO catalogue_items (sku, supplier, transfer_price, bill_of_materials, active,
               changed_at)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6)
           ON CONFLICT (sku) DO UPDATE SET supplier = EXCLUDED.supplier,
               transfer_price = EXCLUDED.transfer_price,
               bill_of_materials = EXCLUDED.bill_of_materials, active = EXCLUDED.active,
               changed_at = EXCLUDED.changed_at
           WHERE catalogue_items.changed_at IS NULL
              OR catalogue_items.changed_at <= EXCLUDED.changed_at""",
        entry.sku,
        entry.supplier,
        entry.transfer_price,
        json.dumps([[sku, quantity] for sku, quantity in entry.bill_of_materials]),
        entry.active,
        changed_at,
    )


async def catalogue(conn: asyncpg.Connection) -> Catalogue:
    """Every item fulfilment knows, removed ones included (see CatalogueEntry.active)."""
    rows = await conn.fetch(
        "SELECT sku, supplier, transfer_price, bill_of_materials, active FROM catalogue_items"
    )
    return {
        row["sku"]: CatalogueEntry(
            sku=row["sku"],
            supplier=row["supplier"],
            transfer_price=row["transfer_price"],
            bill_of_materials=tuple(
                (sku, int(quantity)) for sku, quantity in json.loads(row["bill_of_materials"])
            ),
            active=row["active"],
        )
        for row in rows
    }


async def receive(
    conn: asyncpg.Connection, event: OrderPlaced, trace_headers: dict[str, str]
) -> None:
    await conn.execute(
        """INSERT INTO work_items (order_id, root_order_id, parent_order_id, supplier, requester,
               employee_id, priority, needed_by, currency, lines, status, last_event_id, trace_headers,
               requester_currency, fx_rate)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13::jsonb, $14, $15)
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
        event.requester_currency,
        event.fx_rate,
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
        priority=Priority(row["priority"]),
        needed_by=row["needed_by"],
        requester_currency=row["requester_currency"],
        fx_rate=row["fx_rate"],
        shipped_at=row["shipped_at"],
    )


@dataclass(frozen=True)
class LockedItem:
    item: WorkItem
    trace_headers: dict[str, str]  # the order's trace, which commands on it join
    cancellation_request_id: UUID | None = None  # the latest cancellation request settled


async def lock_item(conn: asyncpg.Connection, order_id: UUID) -> LockedItem | None:
    """The work item, locked for this transaction (concurrent commands queue up here)."""
    row = await conn.fetchrow("SELECT * FROM work_items WHERE order_id = $1 FOR UPDATE", order_id)
    if row is None:
        return None
    return LockedItem(_item(row), json.loads(row["trace_headers"]), row["cancellation_request_id"])


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


async def set_last_event_id(conn: asyncpg.Connection, order_id: UUID, event_id: UUID) -> None:
    """The event the order's next one follows from, its status (and time in it) unchanged."""
    await conn.execute(
        "UPDATE work_items SET last_event_id = $2 WHERE order_id = $1", order_id, event_id
    )


# A work item's parties: the supplier working it and the requester it is for.
_PARTIES = ("w.supplier", "w.requester")


async def queue(
    conn: asyncpg.Connection, supplier: str, *, visible: Visibility
) -> list[dict[str, Any]]:
    """The supplier's open work (of what the caller is party to: `visible`)."""
    rows = await conn.fetch(
        f"""SELECT {_VIEW_COLUMNS} FROM work_items w
            WHERE supplier = $1 AND status NOT IN ('delivered', 'rejected', 'cancelled')
              AND {visible.where(*_PARTIES, param=2)}
            ORDER BY priority = 'rush' DESC, needed_by NULLS LAST, received_at""",
        supplier,
        visible.party,
    )
    return [_view(row) for row in rows]


_VIEW_COLUMNS = """order_id, root_order_id, parent_order_id, supplier, requester, employee_id,
    priority, needed_by, status, reason, received_at, status_changed_at, lines, currency,
    requester_currency, fx_rate::text AS fx_rate, cancellation_refused, shipped_at,
    auto_receipt_due_at,
    (SELECT coalesce(jsonb_agg(jsonb_build_object('order_id', s.order_id, 'sku', s.sku,
                'quantity', s.quantity, 'supplier', s.supplier, 'status', s.status,
                'reason', s.reason) ORDER BY s.sku), '[]'::jsonb)
       FROM sub_orders s WHERE s.parent_order_id = w.order_id) AS sub_orders,
    (SELECT count(*) FROM help_requests h WHERE h.order_id = w.order_id) AS help_requests,
    (SELECT f.rating FROM feedback f WHERE f.order_id = w.order_id) AS feedback_rating"""


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        **dict(row),
        "lines": json.loads(row["lines"]),
        "sub_orders": json.loads(row["sub_orders"]),
    }


async def work_item_view(
    conn: asyncpg.Connection, order_id: UUID, *, visible: Visibility
) -> dict[str, Any] | None:
    """The work item with its sub-orders (their status, not their prices); None when there
    is none the caller is party to."""
    row = await conn.fetchrow(
        f"""SELECT {_VIEW_COLUMNS} FROM work_items w
            WHERE order_id = $1 AND {visible.where(*_PARTIES, param=2)}""",
        order_id,
        visible.party,
    )
    return None if row is None else _view(row)


async def due_for_autopilot(
    conn: asyncpg.Connection, status: WorkStatus, *, older_than_s: float, limit: int = 50
) -> list[tuple[UUID, str, str, float]]:
    """(order_id, supplier, requester, seconds in `status`) of items waiting there for at
    least `older_than_s`, skipping ones another replica holds. Orders whose sub-orders are
    not all delivered are left out: they cannot ship yet."""
    rows = await conn.fetch(
        """SELECT order_id, supplier, requester,
                  extract(epoch FROM now() - status_changed_at)::float8 AS waited_s
           FROM work_items w
           WHERE status = $1 AND status_changed_at <= now() - make_interval(secs => $2)
             AND NOT EXISTS (SELECT 1 FROM sub_orders s
                             WHERE s.parent_order_id = w.order_id AND s.status <> 'delivered')
           ORDER BY status_changed_at LIMIT $3 FOR UPDATE SKIP LOCKED""",
        status.value,
        older_than_s,
        limit,
    )
    return [(r["order_id"], r["supplier"], r["requester"], r["waited_s"]) for r in rows]


async def next_autopilot_due_s(
    conn: asyncpg.Connection, delays: Mapping[WorkStatus, float]
) -> float | None:
    """Seconds until the first item waiting in one of `delays`' states has waited its delay
    there (0 if one has already); None if none waits (parents waiting for parts left out)."""
    due_in: float | None = await conn.fetchval(  # NULL when none waits
        """SELECT min(extract(epoch FROM w.status_changed_at
                              + make_interval(secs => d.delay_s) - now()))::float8
           FROM work_items w
           JOIN unnest($1::text[], $2::float8[]) AS d(status, delay_s) ON d.status = w.status
           WHERE NOT EXISTS (SELECT 1 FROM sub_orders s
                             WHERE s.parent_order_id = w.order_id AND s.status <> 'delivered')""",
        [status.value for status in delays],
        list(delays.values()),
    )
    return None if due_in is None else max(0.0, due_in)


def _sub_order(row: asyncpg.Record) -> SubOrder:
    return SubOrder(
        order_id=row["order_id"],
        parent_order_id=row["parent_order_id"],
        sku=row["sku"],
        quantity=row["quantity"],
        supplier=row["supplier"],
        status=WorkStatus(row["status"]),
    )


async def add_sub_orders(conn: asyncpg.Connection, sub_orders: Sequence[SubOrder]) -> None:
    await conn.executemany(
        """INSERT INTO sub_orders (order_id, parent_order_id, sku, quantity, supplier, status)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        [
            (s.order_id, s.parent_order_id, s.sku, s.quantity, s.supplier, s.status.value)
            for s in sub_orders
        ],
    )


async def sub_orders_of(
    conn: asyncpg.Connection, parent_order_id: UUID, *, lock: bool = False
) -> list[SubOrder]:
    rows = await conn.fetch(
        "SELECT * FROM sub_orders WHERE parent_order_id = $1 ORDER BY sku"
        + (" FOR UPDATE" if lock else ""),
        parent_order_id,
    )
    return [_sub_order(row) for row in rows]


async def parent_of(conn: asyncpg.Connection, order_id: UUID) -> UUID | None:
    """The order a sub-order supplies (None: not a sub-order raised here)."""
    parent: UUID | None = await conn.fetchval(
        "SELECT parent_order_id FROM sub_orders WHERE order_id = $1", order_id
    )
    return parent


async def lock_sub_order(conn: asyncpg.Connection, order_id: UUID) -> SubOrder | None:
    row = await conn.fetchrow("SELECT * FROM sub_orders WHERE order_id = $1 FOR UPDATE", order_id)
    return None if row is None else _sub_order(row)


async def sub_orders_behind(conn: asyncpg.Connection) -> list[UUID]:
    """Sub-orders whose record on the parent is not final and differs from their own work
    item's status (whether that is behind, the progress rule decides)."""
    rows = await conn.fetch(
        """SELECT s.order_id FROM sub_orders s JOIN work_items w USING (order_id)
           WHERE s.status NOT IN ('delivered', 'rejected', 'cancelled') AND s.status <> w.status
           ORDER BY s.order_id"""
    )
    return [row["order_id"] for row in rows]


async def lock_reported(conn: asyncpg.Connection, order_id: UUID) -> Reported | None:
    """An order's state as its parent would record it, its work item locked."""
    row = await conn.fetchrow(
        """SELECT order_id, last_event_id, status, reason FROM work_items
           WHERE order_id = $1 FOR UPDATE""",
        order_id,
    )
    if row is None:
        return None
    return Reported(
        order_id=row["order_id"],
        event_id=row["last_event_id"],
        status=WorkStatus(row["status"]),
        reason=row["reason"],
    )


async def set_sub_order_status(
    conn: asyncpg.Connection, order_id: UUID, status: WorkStatus, *, reason: str | None = None
) -> None:
    await conn.execute(
        """UPDATE sub_orders SET status = $2, reason = COALESCE($3, reason),
               status_changed_at = now() WHERE order_id = $1""",
        order_id,
        status.value,
        reason,
    )


async def feedback_given(conn: asyncpg.Connection, order_id: UUID) -> bool:
    return bool(await conn.fetchval("SELECT true FROM feedback WHERE order_id = $1", order_id))


async def save_feedback(
    conn: asyncpg.Connection, *, order_id: UUID, rating: int, comment: str, event_id: UUID
) -> None:
    await conn.execute(
        "INSERT INTO feedback (order_id, rating, comment, event_id) VALUES ($1, $2, $3, $4)",
        order_id,
        rating,
        comment,
        event_id,
    )


async def save_help_request(
    conn: asyncpg.Connection, *, order_id: UUID, subject: str, message: str, event_id: UUID
) -> None:
    await conn.execute(
        """INSERT INTO help_requests (event_id, order_id, subject, message, status, last_event_id)
           VALUES ($1, $2, $3, $4, 'open', $1)""",
        event_id,
        order_id,
        subject,
        message,
    )


async def lock_help_request(
    conn: asyncpg.Connection, *, order_id: UUID, help_event_id: UUID
) -> HelpRequest | None:
    """The order's help request opened by `help_event_id`, locked for this transaction."""
    row = await conn.fetchrow(
        """SELECT event_id, order_id, status, last_event_id FROM help_requests
           WHERE event_id = $1 AND order_id = $2 FOR UPDATE""",
        help_event_id,
        order_id,
    )
    if row is None:
        return None
    return HelpRequest(
        event_id=row["event_id"],
        order_id=row["order_id"],
        status=HelpStatus(row["status"]),
        last_event_id=row["last_event_id"],
    )


async def save_help_step(
    conn: asyncpg.Connection, request: HelpRequest, step: HelpStep, *, department: str, text: str
) -> None:
    """The request's new state, and the question or answer in its history."""
    await conn.execute(
        """WITH moved AS (
               UPDATE help_requests SET status = $3, last_event_id = $1, status_changed_at = now()
               WHERE event_id = $2)
           INSERT INTO help_request_steps (event_id, help_event_id, event_type, department, text,
               status)
           VALUES ($1, $2, $4, $5, $6, $3)""",
        step.event.event_id,
        request.event_id,
        step.status.value,
        step.event.event_type,
        department,
        text,
    )


async def help_requests_view(
    conn: asyncpg.Connection, order_id: UUID, *, visible: Visibility
) -> list[dict[str, Any]]:
    """The order's help requests, oldest first, each with its state and its history: the
    request itself (by the requester), then every question and answer (none of an order
    the caller is not party to)."""
    rows = await conn.fetch(
        f"""SELECT h.event_id AS help_event_id, h.subject, h.message, h.status, h.requested_at,
                  h.status_changed_at,
                  jsonb_build_array(jsonb_build_object(
                      'event_id', h.event_id, 'event_type', 'HelpRequested',
                      'department', w.requester, 'text', h.message, 'status', 'open',
                      'at', h.requested_at))
                  || (SELECT coalesce(jsonb_agg(jsonb_build_object(
                              'event_id', s.event_id, 'event_type', s.event_type,
                              'department', s.department, 'text', s.text, 'status', s.status,
                              'at', s.given_at) ORDER BY s.position), '[]'::jsonb)
                      FROM help_request_steps s WHERE s.help_event_id = h.event_id) AS history
           FROM help_requests h JOIN work_items w USING (order_id)
           WHERE h.order_id = $1 AND {visible.where(*_PARTIES, param=2)}
           ORDER BY h.requested_at, h.event_id""",
        order_id,
        visible.party,
    )
    return [{**dict(row), "history": json.loads(row["history"])} for row in rows]


async def record_cancellation(
    conn: asyncpg.Connection, order_id: UUID, *, request_id: UUID, refused: str | None
) -> None:
    """The cancellation request settled last, and why it was refused (None: it was not)."""
    await conn.execute(
        """UPDATE work_items SET cancellation_request_id = $2, cancellation_refused = $3
           WHERE order_id = $1""",
        order_id,
        request_id,
        refused,
    )


async def set_shipped(
    conn: asyncpg.Connection, order_id: UUID, *, shipped_at: datetime, auto_receipt_due_at: datetime
) -> None:
    await conn.execute(
        "UPDATE work_items SET shipped_at = $2, auto_receipt_due_at = $3 WHERE order_id = $1",
        order_id,
        shipped_at,
        auto_receipt_due_at,
    )


async def due_auto_receipts(conn: asyncpg.Connection, *, now: datetime, limit: int) -> list[UUID]:
    """Shipped orders whose auto-receipt is due at `now`, locked for this transaction; rows
    another replica (or a receipt under way) holds are skipped."""
    rows = await conn.fetch(
        """SELECT order_id FROM work_items
           WHERE status = 'shipped' AND auto_receipt_due_at IS NOT NULL
             AND auto_receipt_due_at <= $1
           ORDER BY auto_receipt_due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
        now,
        limit,
    )
    return [row["order_id"] for row in rows]


async def next_auto_receipt_due(conn: asyncpg.Connection) -> datetime | None:
    due: datetime | None = await conn.fetchval(
        """SELECT min(auto_receipt_due_at) FROM work_items
           WHERE status = 'shipped' AND auto_receipt_due_at IS NOT NULL"""
    )
    return due


# --- copies of reference data others own -------------------------------------------------


async def save_legal_entity(
    conn: asyncpg.Connection, code: str, *, currency: str, changed_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO legal_entities (code, currency, changed_at) VALUES ($1, $2, $3)
           ON CONFLICT (code) DO UPDATE SET currency = EXCLUDED.currency,
               changed_at = EXCLUDED.changed_at
           WHERE legal_entities.changed_at <= EXCLUDED.changed_at""",
        code,
        currency,
        changed_at,
    )


async def save_department(
    conn: asyncpg.Connection, code: str, *, legal_entity: str, changed_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO departments (code, legal_entity, changed_at) VALUES ($1, $2, $3)
           ON CONFLICT (code) DO UPDATE SET legal_entity = EXCLUDED.legal_entity,
               changed_at = EXCLUDED.changed_at
           WHERE departments.changed_at <= EXCLUDED.changed_at""",
        code,
        legal_entity,
        changed_at,
    )


async def currencies_of(conn: asyncpg.Connection) -> dict[str, str]:
    """Each known department's currency (its legal entity's)."""
    rows = await conn.fetch(
        """SELECT d.code, e.currency FROM departments d
           JOIN legal_entities e ON e.code = d.legal_entity"""
    )
    return {row["code"]: row["currency"] for row in rows}


async def save_fx_rate(
    conn: asyncpg.Connection, rate: FxRate, *, active: bool, changed_at: datetime
) -> None:
    await conn.execute(
        """INSERT INTO fx_rates (base, quote, valid_from, rate, active, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (base, quote, valid_from) DO UPDATE SET rate = EXCLUDED.rate,
               active = EXCLUDED.active, changed_at = EXCLUDED.changed_at
           WHERE fx_rates.changed_at <= EXCLUDED.changed_at""",
        rate.base,
        rate.quote,
        rate.valid_from,
        rate.rate,
        active,
        changed_at,
    )


async def fx_rates(conn: asyncpg.Connection) -> list[FxRate]:
    rows = await conn.fetch("SELECT base, quote, valid_from, rate FROM fx_rates WHERE active")
    return [
        FxRate(base=r["base"], quote=r["quote"], valid_from=r["valid_from"], rate=r["rate"])
        for r in rows
    ]


async def save_sla_policy_version(
    conn: asyncpg.Connection,
    policy_id: str,
    *,
    version: int,
    effective_from: datetime,
    active: bool,
    policy: SlaPolicy,
) -> None:
    """A version is immutable: one seen again (the owner republishes) changes nothing."""
    await conn.execute(
        """INSERT INTO sla_policy_versions (policy_id, version, effective_from, active, policy)
           VALUES ($1, $2, $3, $4, $5::jsonb) ON CONFLICT (policy_id, version) DO NOTHING""",
        policy_id,
        version,
        effective_from,
        active,
        policy.model_dump_json(),
    )


async def sla_policies_in_force(conn: asyncpg.Connection, at: datetime) -> list[SlaPolicy]:
    """The active version in force at `at` of each policy, policies in the order they were
    first seen (the order `business_time.most_specific_policy` breaks ties by)."""
    rows = await conn.fetch(
        """SELECT policy FROM (
               SELECT DISTINCT ON (policy_id) policy_id, active, policy,
                      min(position) OVER (PARTITION BY policy_id) AS first_seen
               FROM sla_policy_versions WHERE effective_from <= $1
               ORDER BY policy_id, version DESC) AS in_force
           WHERE active ORDER BY first_seen""",
        at,
    )
    return [SlaPolicy.model_validate_json(row["policy"]) for row in rows]


async def save_calendar(
    conn: asyncpg.Connection,
    code: str,
    calendar: BusinessCalendar,
    *,
    active: bool,
    changed_at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO business_calendars (code, calendar, active, changed_at)
           VALUES ($1, $2::jsonb, $3, $4)
           ON CONFLICT (code) DO UPDATE SET calendar = EXCLUDED.calendar,
               active = EXCLUDED.active, changed_at = EXCLUDED.changed_at
           WHERE business_calendars.changed_at <= EXCLUDED.changed_at""",
        code,
        calendar.model_dump_json(),
        active,
        changed_at,
    )


async def calendar(conn: asyncpg.Connection, code: str) -> BusinessCalendar | None:
    """The named calendar as last defined (None: unknown or removed)."""
    found: str | None = await conn.fetchval(
        "SELECT calendar FROM business_calendars WHERE code = $1 AND active", code
    )
    return None if found is None else BusinessCalendar.model_validate_json(found)
