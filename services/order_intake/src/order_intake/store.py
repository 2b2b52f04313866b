"""SQL of the order-intake service (its own schema)."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import Envelope, OrderPlaced
from supplychain_contracts.company import FxRate
from supplychain_contracts.registry import topic_for
from supplychain_kit.http.auth import Visibility

from order_intake.cursor import Position
from order_intake.domain import (
    CancellationStatus,
    CatalogueEntry,
    ChainTrade,
    DepartmentBudget,
    Employee,
    OrderStatus,
    Translation,
    status_from_history,
)


async def list_departments(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    """The departments of the company (active ones)."""
    rows = await conn.fetch(
        """SELECT d.code, d.name, d.legal_entity, le.currency, d.cost_centre, d.monthly_budget,
                  d.approval_threshold, d.over_budget, d.employee_shop, d.employee_discount_pct
           FROM departments d LEFT JOIN legal_entities le ON le.code = d.legal_entity
           WHERE d.active ORDER BY d.code"""
    )
    return [dict(row) for row in rows]


async def list_catalogue(
    conn: asyncpg.Connection, *, supplier: str | None = None
) -> list[dict[str, Any]]:
    """The items the company offers (active ones), of one supplier or of all."""
    rows = await conn.fetch(
        """SELECT sku, name, supplier, unit, standard_cost, transfer_price, list_price,
                  lead_time_days, components
           FROM catalogue WHERE active AND ($1::text IS NULL OR supplier = $1) ORDER BY sku""",
        supplier,
    )
    return [{**dict(row), "components": json.loads(row["components"])} for row in rows]


# Every component the ordered items ($2) are made of (bills of materials, recursively) whose
# supplier trades in another currency than the department making the item: the pairs a
# production chain of these items needs a rate for (a JSON array). Each currency is a lookup
# of its own rather than one join of six tables, which the planner weighed again at every
# placement (planning median 1.9 -> 1.4 ms on the sample company, noisy machine).
_CURRENCY_OF_SUPPLIER = """(SELECT le.currency FROM catalogue i
                            JOIN departments d ON d.code = i.supplier
                            JOIN legal_entities le ON le.code = d.legal_entity
                            WHERE i.sku = {sku})"""
_CHAIN_TRADES = f"""
    WITH RECURSIVE part (item_sku, sku) AS (
        SELECT c.sku, component->>'sku'
        FROM catalogue c, jsonb_array_elements(c.components) component
        WHERE c.sku = ANY($2::text[])
        UNION
        SELECT c.sku, component->>'sku'
        FROM part p JOIN catalogue c ON c.sku = p.sku,
             jsonb_array_elements(c.components) component)
    SELECT coalesce(json_agg(DISTINCT jsonb_build_object(
               'sku', trade.sku, 'buyer_currency', trade.buyer,
               'seller_currency', trade.seller)), '[]')
    FROM (SELECT part.sku,
                 {_CURRENCY_OF_SUPPLIER.format(sku="part.item_sku")} AS buyer,
                 {_CURRENCY_OF_SUPPLIER.format(sku="part.sku")} AS seller
          FROM part) trade
    WHERE trade.buyer <> trade.seller"""


@dataclass(frozen=True)
class OrderReferences:
    """The reference data an order is checked and priced against."""

    # of the order's requester and supplier (all the checks need; not the whole company):
    departments: set[str]  # the active ones
    inactive_departments: set[str]  # removed from the company: named in refusals
    catalogue: dict[str, CatalogueEntry]  # the order's skus that exist (or existed: inactive)
    employee_shop_discount: Decimal | None  # the supplier's, if it is an employee shop
    employee: Employee | None  # the buying employee, if there is one and they exist
    budget: DepartmentBudget | None  # the requester's budget settings, if it exists
    currency: str  # the supplier's (its legal entity's): the order is priced in it
    chain_trades: list[ChainTrade]  # what its production chain trades across currencies
    # the active exchange rates when the order or its chain crosses currencies (else none)
    fx_rates: list[FxRate]
    # what the department (or the employee) has committed this month (year) as read, unlocked
    committed: Decimal


def _spending_subject(department: str, employee_id: str | None) -> tuple[str, str]:
    """The running total an order counts against, and the period it is kept by: the
    department's own orders of a month, or the employee's purchases of a year."""
    if employee_id is None:
        return f"department:{department}", "month"
    return f"employee:{employee_id}", "year"


async def order_references(
    conn: asyncpg.Connection,
    *,
    requester: str,
    supplier: str,
    skus: list[str],
    employee_id: str | None,
) -> OrderReferences:
    """The requester and supplier, the order's catalogue items, the shop discount, the
    employee, the exchange rates the order needs and what its budget (or allowance) has
    committed: one round trip (a row per catalogue item found, or one row of NULL items).
    Prices are read here, at placement: the order keeps them whatever the catalogue says
    later."""
    rows = await conn.fetch(
        f"""SELECT reference.departments, reference.inactive_departments,
                  reference.employee_discount_pct, reference.supplier_currency,
                  reference.chain_trades::text, reference.committed,
                  CASE WHEN reference.chain_trades::text <> '[]'
                         OR coalesce(reference.supplier_currency, 'EUR')
                            <> coalesce(rle.currency, 'EUR')
                       THEN (SELECT coalesce(json_agg(json_build_object(
                                        'base', base, 'quote', quote, 'rate', rate,
                                        'valid_from', valid_from) ORDER BY rate_key), '[]')
                             FROM fx_rates WHERE active)::text
                  END AS fx_rates,
                  rle.currency AS requester_currency,
                  e.employee_id, e.department, e.yearly_allowance,
                  c.sku, c.supplier, c.transfer_price, c.list_price, c.active,
                  rq.code AS requester, rq.monthly_budget, rq.approval_threshold, rq.over_budget
           FROM (SELECT ARRAY(SELECT code FROM departments
                              WHERE active AND code IN ($1, $4)) AS departments,
                        ARRAY(SELECT code FROM departments
                              WHERE NOT active AND code IN ($1, $4)) AS inactive_departments,
                        (SELECT employee_discount_pct FROM departments
                         WHERE code = $1 AND employee_shop AND active)
                            AS employee_discount_pct,
                        (SELECT le.currency FROM departments d
                         JOIN legal_entities le ON le.code = d.legal_entity
                         WHERE d.code = $1) AS supplier_currency,
                        ({_CHAIN_TRADES}) AS chain_trades,
                        (SELECT committed FROM spending
                         WHERE subject = $5
                           AND period = date_trunc($6, now() AT TIME ZONE 'UTC')::date)
                            AS committed
                 OFFSET 0) reference  -- evaluated once, not where each column is used
           LEFT JOIN employees e ON e.employee_id = $3 AND e.active
           LEFT JOIN departments rq ON rq.code = $4
           LEFT JOIN legal_entities rle ON rle.code = rq.legal_entity
           LEFT JOIN catalogue c ON c.sku = ANY($2::text[])""",
        supplier,
        skus,
        employee_id,
        requester,
        *_spending_subject(requester, employee_id),
    )
    first = rows[0]
    discount = first["employee_discount_pct"]
    requester_currency = first["requester_currency"] or "EUR"
    rates = json.loads(first["fx_rates"] or "[]", parse_float=Decimal)
    return OrderReferences(
        currency=first["supplier_currency"] or "EUR",
        chain_trades=[ChainTrade(**trade) for trade in json.loads(first["chain_trades"])],
        fx_rates=[FxRate.model_validate(rate) for rate in rates],
        committed=first["committed"] or Decimal("0.00"),
        departments=set(first["departments"]),
        inactive_departments=set(first["inactive_departments"]),
        catalogue={
            row["sku"]: CatalogueEntry(
                sku=row["sku"],
                supplier=row["supplier"],
                transfer_price=row["transfer_price"],
                list_price=row["list_price"],
                active=row["active"],
            )
            for row in rows
            if row["sku"] is not None
        },
        employee_shop_discount=None if discount is None else Decimal(discount),
        employee=None
        if first["employee_id"] is None
        else Employee(
            employee_id=first["employee_id"],
            department=first["department"],
            yearly_allowance=first["yearly_allowance"],
            currency=requester_currency,
        ),
        budget=None
        if first["requester"] is None
        else DepartmentBudget(
            department=first["requester"],
            monthly_budget=first["monthly_budget"],
            approval_threshold=first["approval_threshold"],
            over_budget="warn" if first["over_budget"] == "warn" else "refuse",
            currency=requester_currency,
        ),
    )


async def fx_rates(conn: asyncpg.Connection) -> list[FxRate]:
    """The exchange rates of the company (active ones)."""
    rows = await conn.fetch(
        "SELECT base, quote, rate, valid_from FROM fx_rates WHERE active ORDER BY rate_key"
    )
    return [FxRate.model_validate(dict(row)) for row in rows]


@dataclass(frozen=True)
class Stored:
    """What storing a placement found: the running total its order counts against, as the
    statement read it under its lock (None: there is none yet this period), and the order as
    stored (as `get_order` reads it), or None when nothing was stored (no running total, the
    key was taken, or `committed` was out of range)."""

    committed: Decimal | None
    order: dict[str, Any] | None


async def place_order(
    conn: asyncpg.Connection,
    *,
    order: OrderPlaced,
    total: Decimal,
    translation: Translation,
    key: str,
    request_hash: str,
    status: OrderStatus,
    committed_from: Decimal | None,
    committed_to: Decimal | None,
    placed_by_key_id: str | None,
    warnings: tuple[str, ...],
    trace_headers: dict[str, str],
    outbox_headers: dict[str, str],
) -> Stored:
    """Store a new order in one statement (its own transaction): lock the running total it
    counts against, and only if there is one, within [`committed_from`, `committed_to`]
    (None: unbounded), and the key (requester, key) is new, insert the order, its lines and,
    once placed, its OrderPlaced in the timeline and in the outbox (waking the relay).

    The running total stays locked for this statement alone: placements of one department
    (or employee) are stored one at a time and each sees every stored one. It is locked as a
    row that exists (FOR UPDATE waits in line and reads the version its holder committed);
    the first order of a period finds none (`lock_spending` makes it). An order pending
    approval is stored without its OrderPlaced: that only exists once it is approved.
    `trace_headers` is the trace of the request that placed it, which later commands on the
    order join; `outbox_headers` are the event's headers as the relay publishes them.
    """
    subject, period = _spending_subject(order.requester, order.employee_id)
    placed = status is not OrderStatus.PENDING_APPROVAL
    row = await conn.fetchrow(
        """WITH running AS (
               SELECT committed FROM spending
               WHERE subject = $26 AND period = date_trunc($27, now() AT TIME ZONE 'UTC')::date
               FOR UPDATE),
           stored AS (
               INSERT INTO orders (order_id, root_order_id, parent_order_id, requester,
                   supplier, employee_id, priority, needed_by, currency, total, status,
                   idempotency_key, request_hash, placed_event_id, placed_by_key_id, warnings,
                   trace_headers, requester_currency, fx_rate, requester_total)
               SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                      $17::jsonb, $23, $24, $25
               FROM running
               WHERE ($28::numeric IS NULL OR running.committed >= $28)
                 AND ($29::numeric IS NULL OR running.committed <= $29)
               ON CONFLICT (requester, idempotency_key) DO NOTHING RETURNING *),
           lines AS (
               INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price)
               SELECT stored.order_id, line.line_no, line.sku, line.quantity, line.unit_price
               FROM stored, unnest($18::text[], $19::integer[], $20::numeric[])
                    WITH ORDINALITY AS line(sku, quantity, unit_price, line_no)
               RETURNING line_no, unit_price),
           timeline AS (
               INSERT INTO order_timeline (event_id, order_id, event_type, occurred_at)
               SELECT $14, stored.order_id, $21::text, $22::timestamptz FROM stored
               WHERE $14::uuid IS NOT NULL
               ON CONFLICT (event_id) DO NOTHING),
           appended AS (
               INSERT INTO outbox (event_id, topic, key, event_type, payload, headers)
               SELECT $14, $30, $31, $21::text, $32, $33::jsonb FROM stored
               WHERE $14::uuid IS NOT NULL
               ON CONFLICT (event_id) DO NOTHING RETURNING 1)
           SELECT running.committed AS running_committed,
                  (SELECT count(pg_notify(current_schema() || '_outbox', '')) FROM appended)
                      AS relay_woken,
                  -- the prices as stored (to the column's scale)
                  (SELECT array_agg(unit_price ORDER BY line_no) FROM lines) AS unit_prices,
                  stored.*
           FROM (VALUES (1)) AS one
           LEFT JOIN running ON true LEFT JOIN stored ON true""",
        order.order_id,
        order.root_order_id,
        order.parent_order_id,
        order.requester,
        order.supplier,
        order.employee_id,
        order.priority.value,
        order.needed_by,
        order.currency,
        total,
        status.value,
        key,
        request_hash,
        order.event_id if placed else None,
        placed_by_key_id,
        list(warnings),
        json.dumps(trace_headers),
        [line.sku for line in order.lines],
        [line.quantity for line in order.lines],
        [line.unit_price for line in order.lines],
        order.event_type,
        order.occurred_at,
        translation.requester_currency,
        translation.fx_rate,
        translation.requester_total,
        subject,
        period,
        committed_from,
        committed_to,
        topic_for(order),
        order.message_key(),
        order.model_dump_json(),
        json.dumps(outbox_headers),
    )
    assert row is not None  # one row, whatever was found
    stored = dict(row)
    committed = stored.pop("running_committed")
    del stored["relay_woken"]
    unit_prices = stored.pop("unit_prices")
    if stored["order_id"] is None:
        return Stored(committed=committed, order=None)
    stored["lines"] = [
        {"sku": line.sku, "quantity": line.quantity, "unit_price": unit_price}
        for line, unit_price in zip(order.lines, unit_prices, strict=True)
    ]
    stored["timeline"] = (
        [
            {
                "event_id": order.event_id,
                "event_type": order.event_type,
                "occurred_at": order.occurred_at,
                "detail": None,
            }
        ]
        if placed
        else []
    )
    return Stored(committed=committed, order=stored)


async def lock_order_records(conn: asyncpg.Connection, order_ids: Collection[UUID]) -> None:
    """Serialise, to the commit, recording these orders (a sub-order's OrderPlaced) with
    keeping handoffs that arrive for them before they are recorded (in id order: no deadlock
    between two such transactions), so neither misses the other."""
    await conn.execute(
        """SELECT pg_advisory_xact_lock(hashtextextended('order_intake:order:' || id, 0))
           FROM (SELECT id::text FROM unnest($1::uuid[]) AS id ORDER BY id) AS ordered""",
        list(order_ids),
    )


async def record_sub_order(
    conn: asyncpg.Connection,
    *,
    order: OrderPlaced,
    translation: Translation,
    over_budget: bool,
    warnings: tuple[str, ...],
) -> bool:
    """Record a sub-order fulfilment placed (its OrderPlaced in the timeline), in the status
    its handoffs already recorded give it; False when it is recorded already (redelivered)."""
    history = await conn.fetch(
        """SELECT event_type FROM order_timeline WHERE order_id = $1
           ORDER BY occurred_at, event_type""",
        order.order_id,
    )
    status = status_from_history(row["event_type"] for row in history)
    inserted: bool | None = await conn.fetchval(
        """WITH stored AS (
               INSERT INTO orders (order_id, root_order_id, parent_order_id, requester,
                   supplier, employee_id, priority, needed_by, currency, total, status,
                   placed_event_id, warnings, requester_currency, fx_rate, requester_total,
                   over_budget, created_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
                       $17, $23)
               ON CONFLICT (order_id) DO NOTHING RETURNING order_id),
           lines AS (
               INSERT INTO order_lines (order_id, line_no, sku, quantity, unit_price)
               SELECT stored.order_id, line.line_no, line.sku, line.quantity, line.unit_price
               FROM stored, unnest($18::text[], $19::integer[], $20::numeric[])
                    WITH ORDINALITY AS line(sku, quantity, unit_price, line_no)),
           timeline AS (
               INSERT INTO order_timeline (event_id, order_id, event_type, occurred_at)
               SELECT $12, stored.order_id, $21::text, $22::timestamptz FROM stored
               ON CONFLICT (event_id) DO NOTHING)
           SELECT true FROM stored""",
        order.order_id,
        order.root_order_id,
        order.parent_order_id,
        order.requester,
        order.supplier,
        order.employee_id,
        order.priority.value,
        order.needed_by,
        order.currency,
        sum((line.unit_price * line.quantity for line in order.lines), Decimal("0.00")),
        status.value,
        order.event_id,
        list(warnings),
        translation.requester_currency,
        translation.fx_rate,
        translation.requester_total,
        over_budget,
        [line.sku for line in order.lines],
        [line.quantity for line in order.lines],
        [line.unit_price for line in order.lines],
        order.event_type,
        order.occurred_at,
        order.occurred_at,  # the month its budget is charged in: when it was raised
    )
    return bool(inserted)


async def department_budget(conn: asyncpg.Connection, department: str) -> DepartmentBudget | None:
    row = await conn.fetchrow(
        """SELECT d.code, d.monthly_budget, d.approval_threshold, d.over_budget, le.currency
           FROM departments d LEFT JOIN legal_entities le ON le.code = d.legal_entity
           WHERE d.code = $1""",
        department,
    )
    if row is None:
        return None
    return DepartmentBudget(
        department=row["code"],
        monthly_budget=row["monthly_budget"],
        approval_threshold=row["approval_threshold"],
        over_budget="warn" if row["over_budget"] == "warn" else "refuse",
        currency=row["currency"] or "EUR",
    )


@dataclass(frozen=True)
class BudgetUse:
    """What a department's live orders of a month commit, its own and the sub-orders
    fulfilment raised for it (in its currency)."""

    own_orders: Decimal
    sub_orders: Decimal
    over_budget_sub_orders: int


async def budget_use(conn: asyncpg.Connection, *, department: str, month: date) -> BudgetUse:
    row = await conn.fetchrow(
        """SELECT coalesce(sum(order_commits(o)) FILTER (WHERE parent_order_id IS NULL), 0)
                      AS own_orders,
                  coalesce(sum(order_commits(o)) FILTER (WHERE parent_order_id IS NOT NULL), 0)
                      AS sub_orders,
                  count(*) FILTER (WHERE over_budget AND order_commits(o) > 0)
                      AS over_budget_sub_orders
           FROM orders o
           WHERE requester = $1 AND employee_id IS NULL
             AND created_at >= ($2::date)::timestamp AT TIME ZONE 'UTC'
             AND created_at < (($2::date) + interval '1 month') AT TIME ZONE 'UTC'""",
        department,
        month,
    )
    return BudgetUse(
        own_orders=row["own_orders"],
        sub_orders=row["sub_orders"],
        over_budget_sub_orders=row["over_budget_sub_orders"],
    )


async def mark_approved(
    conn: asyncpg.Connection, *, order: OrderPlaced, approved_by_key_id: str
) -> None:
    """A pending order is approved: it is placed now, with its OrderPlaced in the timeline."""
    await conn.execute(
        """UPDATE orders SET status = $2, placed_event_id = $3, approved_by_key_id = $4,
               approved_at = now(), updated_at = now()
           WHERE order_id = $1""",
        order.order_id,
        OrderStatus.PLACED.value,
        order.event_id,
        approved_by_key_id,
    )
    await add_timeline(
        conn,
        event_id=order.event_id,
        order_id=order.order_id,
        event_type=order.event_type,
        occurred_at=order.occurred_at,
    )


async def lock_spending(
    conn: asyncpg.Connection,
    *,
    department: str,
    employee_id: str | None,
    at: datetime | None = None,
) -> Decimal:
    """Lock the running total an order counts against, for this transaction, and return it:
    the department's own orders of this month, or the employee's purchases of this year.

    The one lock placement needs: orders of one department (or employee) are checked one at
    a time, each seeing every committed one (the upsert waits for a concurrent placement and
    reads the row as it committed). Its period is the transaction's, as the order's
    `created_at` is, so the check and the trigger count the same month (`at`: a sub-order's,
    the time it was raised).
    """
    value: Decimal = await conn.fetchval(
        """INSERT INTO spending (subject, period, committed)
           VALUES ($1, date_trunc($2, coalesce($3, now()) AT TIME ZONE 'UTC')::date, 0)
           ON CONFLICT (subject, period) DO UPDATE SET committed = spending.committed
           RETURNING committed""",
        *_spending_subject(department, employee_id),
        at,
    )
    return value


async def list_orders(
    conn: asyncpg.Connection,
    *,
    visible: Visibility,
    status: OrderStatus | None,
    supplier: str | None,
    since: datetime | None,
    after: Position | None,
    limit: int,
) -> list[dict[str, Any]]:
    """The orders the caller placed (`visible` on the requester), newest first, from just
    after the keyset position `after`."""
    rows = await conn.fetch(
        f"""SELECT order_id, root_order_id, requester, supplier, employee_id, priority,
                  needed_by, currency, total, requester_currency, requester_total, status,
                  created_at, updated_at
           FROM orders
           WHERE {visible.where("requester", param=1)}
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR supplier = $3)
             AND ($4::timestamptz IS NULL OR created_at >= $4)
             AND ($5::timestamptz IS NULL OR (created_at, order_id) < ($5, $6::uuid))
           ORDER BY created_at DESC, order_id DESC
           LIMIT $7""",
        visible.party,
        status.value if status else None,
        supplier,
        since,
        after.created_at if after else None,
        after.order_id if after else None,
        limit,
    )
    return [dict(row) for row in rows]


@dataclass(frozen=True)
class PriorOrder:
    """The order an idempotency key already placed."""

    order_id: UUID
    request_hash: str
    status: OrderStatus


async def order_by_key(conn: asyncpg.Connection, *, requester: str, key: str) -> PriorOrder | None:
    row = await conn.fetchrow(
        """SELECT order_id, request_hash, status FROM orders
           WHERE requester = $1 AND idempotency_key = $2""",
        requester,
        key,
    )
    if row is None:
        return None
    return PriorOrder(
        order_id=row["order_id"],
        request_hash=row["request_hash"],
        status=OrderStatus(row["status"]),
    )


async def lock_statuses(
    conn: asyncpg.Connection, order_ids: Collection[UUID]
) -> dict[UUID, OrderStatus]:
    """Lock the rows of those orders that are ours (in id order: no deadlock between two
    such batches); their statuses."""
    rows = await conn.fetch(
        """SELECT order_id, status FROM orders WHERE order_id = ANY($1::uuid[])
           ORDER BY order_id FOR UPDATE""",
        list(order_ids),
    )
    return {row["order_id"]: OrderStatus(row["status"]) for row in rows}


async def set_statuses(conn: asyncpg.Connection, statuses: Mapping[UUID, OrderStatus]) -> None:
    await conn.execute(
        """UPDATE orders o SET status = s.status, updated_at = now()
           FROM unnest($1::uuid[], $2::text[]) AS s(order_id, status)
           WHERE o.order_id = s.order_id""",
        list(statuses),
        [status.value for status in statuses.values()],
    )


async def add_timeline_entries(conn: asyncpg.Connection, events: Sequence[Envelope]) -> None:
    """The events on the orders' timelines, in one statement (a redelivered one is there)."""
    await conn.execute(
        """INSERT INTO order_timeline (event_id, order_id, event_type, occurred_at, detail)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::text[])
           ON CONFLICT (event_id) DO NOTHING""",
        [event.event_id for event in events],
        [event.order_id for event in events],
        [event.event_type for event in events],
        [event.occurred_at for event in events],
        [getattr(event, "reason", None) for event in events],
    )


# Who is party to an order: its requester, and its supplier once it was told of the order
# (OrderPlaced: an order pending approval is its requester's alone).
_ORDER_PARTIES = (
    "o.requester",
    f"CASE WHEN o.status <> '{OrderStatus.PENDING_APPROVAL.value}' THEN o.supplier END",
)


async def get_order(
    conn: asyncpg.Connection, order_id: UUID, *, visible: Visibility, for_update: bool = False
) -> dict[str, Any] | None:
    """The order with its lines and timeline, in one round trip; None when there is none
    the caller is party to (`visible`)."""
    lock = " FOR UPDATE OF o" if for_update else ""
    row = await conn.fetchrow(
        f"""SELECT o.*,
                (SELECT coalesce(json_agg(json_build_object(
                            'sku', l.sku, 'quantity', l.quantity, 'unit_price', l.unit_price)
                        ORDER BY l.line_no), '[]')
                 FROM order_lines l WHERE l.order_id = o.order_id)::text AS lines_json,
                (SELECT coalesce(json_agg(json_build_object(
                            'event_id', t.event_id, 'event_type', t.event_type,
                            'occurred_at', t.occurred_at, 'detail', t.detail)
                        ORDER BY t.occurred_at, t.event_type), '[]')
                 FROM order_timeline t WHERE t.order_id = o.order_id)::text AS timeline_json
            FROM orders o
            WHERE o.order_id = $1 AND {visible.where(*_ORDER_PARTIES, param=2)}{lock}""",
        order_id,
        visible.party,
    )
    if row is None:
        return None
    order = dict(row)
    # numbers as Decimal: a price read back is the price stored, to the cent
    order["lines"] = json.loads(order.pop("lines_json"), parse_float=Decimal)
    order["timeline"] = [
        {**entry, "event_id": UUID(entry["event_id"]), "occurred_at": _timestamp(entry)}
        for entry in json.loads(order.pop("timeline_json"))
    ]
    return order


def _timestamp(entry: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(entry["occurred_at"])


async def set_status(conn: asyncpg.Connection, order_id: UUID, status: OrderStatus) -> None:
    await conn.execute(
        "UPDATE orders SET status = $2, updated_at = now() WHERE order_id = $1",
        order_id,
        status.value,
    )


async def add_timeline(
    conn: asyncpg.Connection,
    *,
    event_id: UUID,
    order_id: UUID,
    event_type: str,
    occurred_at: Any,
    detail: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO order_timeline (event_id, order_id, event_type, occurred_at, detail)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING""",
        event_id,
        order_id,
        event_type,
        occurred_at,
        detail,
    )


async def last_event_id(conn: asyncpg.Connection, order_id: UUID) -> UUID | None:
    value: UUID | None = await conn.fetchval(
        "SELECT event_id FROM order_timeline WHERE order_id = $1 ORDER BY occurred_at DESC LIMIT 1",
        order_id,
    )
    return value


def order_trace(order: dict[str, Any]) -> dict[str, str]:
    stored = order.get("trace_headers") or "{}"
    headers: dict[str, str] = json.loads(stored) if isinstance(stored, str) else dict(stored)
    return headers


async def request_cancellation(
    conn: asyncpg.Connection, order_id: UUID, *, reason: str, requested_at: datetime
) -> None:
    """The requester asked the supplier to cancel: pending until fulfilment settles it."""
    await conn.execute(
        """UPDATE orders SET cancellation_status = $2, cancellation_reason = $3,
               cancellation_requested_at = $4, cancellation_settled_at = NULL,
               updated_at = now()
           WHERE order_id = $1""",
        order_id,
        CancellationStatus.REQUESTED.value,
        reason,
        requested_at,
    )


async def settle_cancellations(
    conn: asyncpg.Connection, settlements: Mapping[UUID, tuple[CancellationStatus, Envelope]]
) -> None:
    """Fulfilment's settlements of those orders' cancellations (status and the event that
    settled it: its reason and time)."""
    await conn.execute(
        """UPDATE orders o SET cancellation_status = s.status, cancellation_reason = s.reason,
               cancellation_settled_at = s.settled_at, updated_at = now()
           FROM unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[])
                AS s(order_id, status, reason, settled_at)
           WHERE o.order_id = s.order_id""",
        list(settlements),
        [status.value for status, _ in settlements.values()],
        [getattr(event, "reason", "") for _, event in settlements.values()],
        [event.occurred_at for _, event in settlements.values()],
    )
