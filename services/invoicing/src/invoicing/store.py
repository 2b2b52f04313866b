"""SQL of the invoicing service (its own schema)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
from supplychain_contracts import CreditKind, CreditNoteIssued, InvoiceIssued, Stage
from supplychain_contracts.company import FxRate
from supplychain_kit.http.auth import Visibility
from supplychain_kit.messaging.consumer_errors import NotKnownYet

from invoicing.domain import (
    CreditClaim,
    IssuedCredit,
    IssuedInvoice,
    Party,
)
from invoicing.ledger import AccountBalance, DatedAmounts, PostedDocument

# --- reference data ------------------------------------------------------------------------


class DepartmentNotKnownYet(NotKnownYet):
    """A department invoicing has not learnt from the reference topic yet.

    Its DepartmentDefined and the order's events travel on different topics, so a delivery
    may arrive first. Invoicing does not invent a party (legal entity, cost centre) for it:
    the delivery waits, retried by the consumer for INVOICING_REFERENCE_WAIT_SECONDS, then
    dead-lettered with this error as its reason.
    """

    def __init__(self, code: str) -> None:
        super().__init__(f"unknown department {code} (not known to invoicing yet)")
        self.code = code


async def save_department(
    conn: asyncpg.Connection, party: Party, *, active: bool, changed_at: datetime
) -> None:
    """Insert or replace the department, unless a later change of it is already stored (an
    older change arriving late changes nothing)."""
    await conn.execute(
        """INSERT INTO departments (code, legal_entity, cost_centre, active, changed_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (code) DO UPDATE SET legal_entity = EXCLUDED.legal_entity,
               cost_centre = EXCLUDED.cost_centre, active = EXCLUDED.active,
               changed_at = EXCLUDED.changed_at
           WHERE departments.changed_at IS NULL OR departments.changed_at <= EXCLUDED.changed_at""",
        party.code,
        party.legal_entity,
        party.cost_centre,
        active,
        changed_at,
    )


async def save_legal_entity(
    conn: asyncpg.Connection, code: str, *, currency: str, active: bool, changed_at: datetime
) -> None:
    """Insert or replace the legal entity, unless a later change of it is already stored."""
    await conn.execute(
        """INSERT INTO legal_entities (code, currency, active, changed_at)
           VALUES ($1, $2, $3, $4)
           ON CONFLICT (code) DO UPDATE SET currency = EXCLUDED.currency,
               active = EXCLUDED.active, changed_at = EXCLUDED.changed_at
           WHERE legal_entities.changed_at IS NULL
              OR legal_entities.changed_at <= EXCLUDED.changed_at""",
        code,
        currency,
        active,
        changed_at,
    )


async def entity_currencies(conn: asyncpg.Connection) -> dict[str, str]:
    rows = await conn.fetch("SELECT code, currency FROM legal_entities ORDER BY code")
    return {row["code"]: row["currency"] for row in rows}


async def save_fx_rate(conn: asyncpg.Connection, rate: FxRate, *, active: bool) -> None:
    """Keep the pair's rate from its day on (a removed one is forgotten)."""
    if not active:
        await conn.execute(
            "DELETE FROM fx_rates WHERE base = $1 AND quote = $2 AND valid_from = $3",
            rate.base,
            rate.quote,
            rate.valid_from,
        )
        return
    await conn.execute(
        """INSERT INTO fx_rates (base, quote, valid_from, rate) VALUES ($1, $2, $3, $4)
           ON CONFLICT (base, quote, valid_from) DO UPDATE SET rate = EXCLUDED.rate""",
        rate.base,
        rate.quote,
        rate.valid_from,
        rate.rate,
    )


async def fx_rates(conn: asyncpg.Connection) -> list[FxRate]:
    rows = await conn.fetch("SELECT base, quote, valid_from, rate FROM fx_rates")
    return [FxRate.model_validate(dict(row)) for row in rows]


async def parties(conn: asyncpg.Connection, codes: Sequence[str]) -> dict[str, Party]:
    """The departments as they stand now, removed ones included (an order placed while one was
    active is still invoiced); DepartmentNotKnownYet names the first of `codes` invoicing has
    not learnt."""
    rows = await conn.fetch(
        "SELECT code, legal_entity, cost_centre FROM departments WHERE code = ANY($1::text[])",
        list(set(codes)),
    )
    known = {
        row["code"]: Party(row["code"], row["legal_entity"], row["cost_centre"]) for row in rows
    }
    missing = next((code for code in codes if code not in known), None)
    if missing is not None:
        raise DepartmentNotKnownYet(missing)
    return known


# --- orders --------------------------------------------------------------------------------


async def lock_order(conn: asyncpg.Connection, order_id: UUID) -> None:
    """Serialise the events of one order across topics and replicas until commit: a breach
    and the delivery of the same order arrive on different topics, possibly at different
    replicas, and each must see the other's effect (else the credit would be lost)."""
    await lock_orders(conn, [order_id])


async def lock_orders(conn: asyncpg.Connection, order_ids: Collection[UUID]) -> None:
    """The orders' locks (lock_order's) in one statement, taken in the order of their ids
    (unnest yields the array in order), the same order for every transaction that takes
    several."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended(id, 0)) FROM unnest($1::text[]) AS id",
        sorted({str(order_id) for order_id in order_ids}),
    )


async def mark_cancelled(
    conn: asyncpg.Connection,
    order_id: UUID,
    *,
    supplier: str,
    cancelled_at: datetime,
    cause_event_id: UUID,
) -> None:
    await conn.execute(
        """INSERT INTO cancelled_orders (order_id, supplier, cancelled_at, cause_event_id)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING""",
        order_id,
        supplier,
        cancelled_at,
        cause_event_id,
    )


async def is_cancelled(conn: asyncpg.Connection, order_id: UUID) -> bool:
    return bool(await cancelled_among(conn, [order_id]))


async def cancelled_among(conn: asyncpg.Connection, order_ids: Collection[UUID]) -> set[UUID]:
    """Those of the orders whose cancellation the supplier settled."""
    rows = await conn.fetch(
        "SELECT order_id FROM cancelled_orders WHERE order_id = ANY($1::uuid[])", list(order_ids)
    )
    return {row["order_id"] for row in rows}


async def record_shipments(
    conn: asyncpg.Connection, shipped: Sequence[tuple[UUID, datetime]]
) -> None:
    """When the suppliers shipped (order id, time; the first time known wins)."""
    if not shipped:
        return
    await conn.execute(
        """INSERT INTO shipments (order_id, shipped_at)
           SELECT * FROM unnest($1::uuid[], $2::timestamptz[]) ON CONFLICT DO NOTHING""",
        [order_id for order_id, _ in shipped],
        [at for _, at in shipped],
    )


async def shipped_at(conn: asyncpg.Connection, order_id: UUID) -> datetime | None:
    value: datetime | None = await conn.fetchval(
        "SELECT shipped_at FROM shipments WHERE order_id = $1", order_id
    )
    return value


# --- invoices ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewInvoice:
    """An invoice to store, with the parties it freezes and the delivery it charges."""

    invoice: InvoiceIssued
    supplier: Party
    requester: Party
    delivered_event_id: UUID


async def save_invoices(
    conn: asyncpg.Connection, invoices: Sequence[NewInvoice]
) -> dict[UUID, IssuedInvoice]:
    """The invoices stored, by order id, and their lines (a statement each for all of them);
    an order that already has one gets none (the unique order_id is the guard against a
    second invoice, safe under concurrency)."""
    if not invoices:
        return {}
    columns = [
        (
            new.invoice.invoice_id,
            new.invoice.order_id,
            new.invoice.root_order_id,
            new.invoice.supplier,
            new.invoice.requester,
            new.invoice.employee_id,
            new.supplier.cost_centre,
            new.requester.cost_centre,
            new.invoice.employee_id is not None,
            new.invoice.period,
            new.invoice.currency,
            new.invoice.total,
            new.invoice.occurred_at,
            new.delivered_event_id,
            new.supplier.legal_entity,
            new.requester.legal_entity,
            new.invoice.requester_currency,
            new.invoice.fx_rate,
            new.invoice.requester_total,
            new.invoice.original_period,
        )
        for new in invoices
    ]
    rows = await conn.fetch(
        f"""INSERT INTO invoices (invoice_id, order_id, root_order_id, supplier, requester,
               employee_id, supplier_cost_centre, requester_cost_centre, payroll_deduction,
               period, currency, total, issued_at, delivered_event_id,
               supplier_legal_entity, requester_legal_entity, requester_currency, fx_rate,
               requester_total, original_period)
           SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[],
               $6::text[], $7::text[], $8::text[], $9::boolean[], $10::text[], $11::text[],
               $12::numeric[], $13::timestamptz[], $14::uuid[], $15::text[], $16::text[],
               $17::text[], $18::numeric[], $19::numeric[], $20::text[])
           ON CONFLICT (order_id) DO NOTHING
           RETURNING {_ISSUED_COLUMNS}, supplier_legal_entity AS supplier_entity,
               requester_legal_entity AS requester_entity""",
        *(list(column) for column in zip(*columns, strict=True)),
    )
    issued = {row["order_id"]: _issued_invoice(row) for row in rows}
    lines = [
        (new.invoice.invoice_id, n, line.sku, line.quantity, line.unit_price, line.amount)
        for new in invoices
        if new.invoice.order_id in issued
        and issued[new.invoice.order_id].invoice_id == new.invoice.invoice_id
        for n, line in enumerate(new.invoice.lines, 1)
    ]
    if not lines:
        return issued
    await conn.execute(
        """INSERT INTO invoice_lines (invoice_id, line_no, sku, quantity, unit_price, amount)
           SELECT * FROM unnest($1::uuid[], $2::integer[], $3::text[], $4::integer[],
               $5::numeric[], $6::numeric[])""",
        *(list(column) for column in zip(*lines, strict=True)),
    )
    return issued


_ISSUED_COLUMNS = """invoice_id, order_id, root_order_id, supplier, requester, employee_id,
    supplier_cost_centre, requester_cost_centre, period, currency, total, requester_currency,
    fx_rate"""


def _issued_invoice(row: asyncpg.Record) -> IssuedInvoice:
    return IssuedInvoice(
        invoice_id=row["invoice_id"],
        order_id=row["order_id"],
        root_order_id=row["root_order_id"],
        supplier=Party(row["supplier"], row["supplier_entity"], row["supplier_cost_centre"]),
        requester=Party(row["requester"], row["requester_entity"], row["requester_cost_centre"]),
        employee_id=row["employee_id"],
        period=row["period"],
        currency=row["currency"],
        total=row["total"],
        requester_currency=row["requester_currency"],
        fx_rate=row["fx_rate"],
    )


_STORED_INVOICE = """SELECT i.*,
       coalesce(i.supplier_legal_entity, s.legal_entity) AS supplier_entity,
       coalesce(i.requester_legal_entity, r.legal_entity) AS requester_entity
   FROM invoices i
   LEFT JOIN departments s ON s.code = i.supplier
   LEFT JOIN departments r ON r.code = i.requester"""


async def issued_invoices(
    conn: asyncpg.Connection, order_ids: Collection[UUID]
) -> dict[UUID, IssuedInvoice]:
    """The orders' invoices as stored, by order id (those without one left out)."""
    rows = await conn.fetch(
        f"{_STORED_INVOICE} WHERE i.order_id = ANY($1::uuid[])", list(order_ids)
    )
    return {row["order_id"]: _issued_invoice(row) for row in rows}


async def invoice_by_id(conn: asyncpg.Connection, invoice_id: UUID) -> IssuedInvoice | None:
    """The invoice as stored (what a credit note is computed from), or None."""
    row = await conn.fetchrow(f"{_STORED_INVOICE} WHERE i.invoice_id = $1", invoice_id)
    return None if row is None else _issued_invoice(row)


# An invoice's parties: the supplier that issued it and the requester it charges.
_INVOICE_PARTIES = ("supplier", "requester")


async def list_invoices(
    conn: asyncpg.Connection,
    *,
    visible: Visibility,
    department: str | None,
    period: str | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A page of the invoices the caller is party to (of `department`, as either party, if
    given), newest first, and how many match in all."""
    matching = f"""{visible.where(*_INVOICE_PARTIES, param=1)}
        AND ($2::text IS NULL OR supplier = $2 OR requester = $2)
        AND ($3::text IS NULL OR period = $3)"""
    rows = await conn.fetch(
        f"""SELECT *, count(*) OVER () AS matching FROM invoices WHERE {matching}
           ORDER BY issued_at DESC, invoice_id LIMIT $4 OFFSET $5""",
        visible.party,
        department,
        period,
        limit,
        offset,
    )
    if rows:
        return await _with_documents(conn, rows), rows[0]["matching"]
    total: int = await conn.fetchval(
        f"SELECT count(*) FROM invoices WHERE {matching}", visible.party, department, period
    )
    return [], total


async def get_invoice(
    conn: asyncpg.Connection, invoice_id: UUID, *, visible: Visibility
) -> dict[str, Any] | None:
    """The invoice with its documents; None when there is none the caller is party to."""
    row = await conn.fetchrow(
        f"""SELECT * FROM invoices
            WHERE invoice_id = $1 AND {visible.where(*_INVOICE_PARTIES, param=2)}""",
        invoice_id,
        visible.party,
    )
    if row is None:
        return None
    (invoice,) = await _with_documents(conn, [row])
    return invoice


async def _with_documents(
    conn: asyncpg.Connection, rows: list[asyncpg.Record]
) -> list[dict[str, Any]]:
    """The invoices with their lines and the credit notes issued against them (one query
    each for all of them)."""
    ids = [row["invoice_id"] for row in rows]
    lines = await conn.fetch(
        """SELECT invoice_id, sku, quantity, unit_price, amount FROM invoice_lines
           WHERE invoice_id = ANY($1::uuid[]) ORDER BY invoice_id, line_no""",
        ids,
    )
    notes = await conn.fetch(
        """SELECT invoice_id, credit_note_id, kind, period, original_period, amount, reason,
               issued_at, requester_amount, dispute_id, reverses_credit_note_id
           FROM credit_notes WHERE invoice_id = ANY($1::uuid[])
           ORDER BY issued_at, credit_note_id""",
        ids,
    )
    invoices = {row["invoice_id"]: {**dict(row), "lines": [], "credit_notes": []} for row in rows}
    for line in lines:
        invoices[line["invoice_id"]]["lines"].append(dict(line))
    for note in notes:
        invoices[note["invoice_id"]]["credit_notes"].append(dict(note))
    return list(invoices.values())


# --- credit notes --------------------------------------------------------------------------


async def remember_claims(conn: asyncpg.Connection, claims: Sequence[CreditClaim]) -> None:
    """Keep the claims until their orders' invoices come (the first of an order's kind and
    supplier wins)."""
    if not claims:
        return
    await conn.execute(
        """INSERT INTO pending_credits (order_id, kind, supplier, detail, cause_event_id,
               caused_at, service_credit_pct, stage, deadline)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[],
               $6::timestamptz[], $7::numeric[], $8::text[], $9::timestamptz[])
           ON CONFLICT DO NOTHING""",
        [claim.order_id for claim in claims],
        [claim.kind.value for claim in claims],
        [claim.supplier for claim in claims],
        [claim.detail for claim in claims],
        [claim.cause_event_id for claim in claims],
        [claim.caused_at for claim in claims],
        [claim.service_credit_pct for claim in claims],
        [claim.stage.value if claim.stage else None for claim in claims],
        [claim.deadline for claim in claims],
    )


async def drop_pending_claims(conn: asyncpg.Connection, order_id: UUID) -> int:
    """Forget the claims waiting for an invoice that will never come (a cancelled order)."""
    dropped = await conn.fetch(
        "DELETE FROM pending_credits WHERE order_id = $1 RETURNING order_id", order_id
    )
    return len(dropped)


async def take_pending_claims(
    conn: asyncpg.Connection, requesters: Mapping[UUID, str]
) -> dict[UUID, list[CreditClaim]]:
    """The claims waiting for these orders' invoices (order id -> its requester), removed:
    they are settled now; by order id. A claim stored before breaches carried their
    percentage gets the one its policy gave the order's requester (kept by migration 0003)."""
    rows = await conn.fetch(
        """WITH invoiced AS (
               SELECT * FROM unnest($1::uuid[], $2::text[]) AS i(order_id, requester)),
           taken AS (
               DELETE FROM pending_credits p USING invoiced i WHERE p.order_id = i.order_id
               RETURNING p.*, i.requester),
           legacy AS (
               DELETE FROM legacy_claim_credits l USING invoiced i WHERE l.order_id = i.order_id
               RETURNING l.*)
           SELECT t.*, coalesce(t.service_credit_pct, (
                   SELECT l.service_credit_pct FROM legacy l
                   WHERE l.order_id = t.order_id AND l.supplier = t.supplier
                     AND l.requester IN (t.requester, '')
                   ORDER BY l.requester = t.requester DESC LIMIT 1)) AS pct
           FROM taken t""",
        list(requesters),
        list(requesters.values()),
    )
    taken: dict[UUID, list[CreditClaim]] = {}
    for row in rows:
        taken.setdefault(row["order_id"], []).append(
            CreditClaim(
                kind=CreditKind(row["kind"]),
                order_id=row["order_id"],
                supplier=row["supplier"],
                detail=row["detail"],
                cause_event_id=row["cause_event_id"],
                caused_at=row["caused_at"],
                service_credit_pct=row["pct"],
                stage=Stage(row["stage"]) if row["stage"] else None,
                deadline=row["deadline"],
            )
        )
    return taken


async def record_retraction(
    conn: asyncpg.Connection,
    *,
    breach_event_id: UUID,
    order_id: UUID,
    retraction_event_id: UUID,
    retracted_at: datetime,
) -> bool:
    """Remember that the breach was retracted; False when it was already."""
    inserted = await conn.fetchval(
        """INSERT INTO retracted_breaches (breach_event_id, order_id, retraction_event_id,
               retracted_at)
           VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING true""",
        breach_event_id,
        order_id,
        retraction_event_id,
        retracted_at,
    )
    return bool(inserted)


async def retracted_among(
    conn: asyncpg.Connection, breach_event_ids: Collection[UUID]
) -> set[UUID]:
    """Those of the breaches monitoring retracted."""
    rows = await conn.fetch(
        "SELECT breach_event_id FROM retracted_breaches WHERE breach_event_id = ANY($1::uuid[])",
        list(breach_event_ids),
    )
    return {row["breach_event_id"] for row in rows}


async def drop_claim_of(conn: asyncpg.Connection, breach_event_id: UUID) -> bool:
    """Forget the claim the breach left waiting for its invoice; False when none waits."""
    dropped = await conn.fetchval(
        "DELETE FROM pending_credits WHERE cause_event_id = $1 RETURNING true", breach_event_id
    )
    return bool(dropped)


async def sla_credit_of_breach(
    conn: asyncpg.Connection, breach_event_id: UUID
) -> IssuedCredit | None:
    """The SLA credit note the breach caused, if one was issued."""
    row = await conn.fetchrow(
        """SELECT credit_note_id, invoice_id, amount FROM credit_notes
           WHERE cause_event_id = $1 AND kind = $2""",
        breach_event_id,
        CreditKind.SLA.value,
    )
    return None if row is None else IssuedCredit(**dict(row))


async def credited_amount(conn: asyncpg.Connection, invoice_id: UUID) -> Decimal:
    """What the invoice's credit notes credited so far (reversals count negative)."""
    value: Decimal = await conn.fetchval(
        "SELECT coalesce(sum(amount), 0) FROM credit_notes WHERE invoice_id = $1", invoice_id
    )
    return value


async def sla_credit_exists(conn: asyncpg.Connection, invoice_id: UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM credit_notes WHERE invoice_id = $1 AND kind = $2",
            invoice_id,
            CreditKind.SLA.value,
        )
    )


async def save_credit_note(conn: asyncpg.Connection, note: CreditNoteIssued) -> bool:
    """Store the credit note; False when its invoice already has the one of its kind (SLA),
    its dispute or its reversed note already has one."""
    inserted = await conn.fetchval(
        """INSERT INTO credit_notes (credit_note_id, invoice_id, order_id, root_order_id, kind,
               supplier, requester, employee_id, period, currency, amount, reason, issued_at,
               cause_event_id, requester_currency, fx_rate, requester_amount, original_period,
               dispute_id, reverses_credit_note_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
               $18, $19, $20)
           ON CONFLICT DO NOTHING RETURNING true""",
        note.credit_note_id,
        note.invoice_id,
        note.order_id,
        note.root_order_id,
        note.kind.value,
        note.supplier,
        note.requester,
        note.employee_id,
        note.period,
        note.currency,
        note.amount,
        note.reason,
        note.occurred_at,
        note.causation_id,
        note.requester_currency,
        note.fx_rate,
        note.requester_amount,
        note.original_period,
        note.dispute_id,
        note.reverses_credit_note_id,
    )
    return bool(inserted)


# --- ledger --------------------------------------------------------------------------------


async def save_postings(conn: asyncpg.Connection, documents: Sequence[PostedDocument]) -> None:
    """The documents' ledger lines, one statement for all of them."""
    lines = [
        (
            document.kind.value,
            document.document_id,
            n,
            document.period,
            document.currency,
            p.legal_entity,
            p.account.value,
            p.department,
            p.cost_centre,
            p.counterparty_entity,
            p.counterparty,
            p.debit,
            p.credit,
            document.posted_at,
        )
        for document in documents
        for n, p in enumerate(document.postings, 1)
    ]
    if not lines:
        return
    await conn.execute(
        """INSERT INTO postings (document_kind, document_id, line_no, period, currency,
               legal_entity, account, department, cost_centre, counterparty_entity,
               counterparty, debit, credit, posted_at)
           SELECT * FROM unnest($1::text[], $2::uuid[], $3::integer[], $4::text[], $5::text[],
               $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
               $12::numeric[], $13::numeric[], $14::timestamptz[])
           ON CONFLICT DO NOTHING""",
        *(list(column) for column in zip(*lines, strict=True)),
    )


# A ledger line's party: the department whose cost centre it books (its counterparty's
# line is the counterparty's).
_LINE_PARTY = "department"


async def account_balances(
    conn: asyncpg.Connection, *, period: str | None, visible: Visibility
) -> list[AccountBalance]:
    """Debits and credits per account line of the lines the caller's cost centre books
    (finance: every line)."""
    rows = await conn.fetch(
        f"""SELECT legal_entity, account, cost_centre, counterparty_entity, currency,
               sum(debit) AS debit, sum(credit) AS credit
           FROM postings
           WHERE ($1::text IS NULL OR period = $1) AND {visible.where(_LINE_PARTY, param=2)}
           GROUP BY legal_entity, account, cost_centre, counterparty_entity, currency""",
        period,
        visible.party,
    )
    return [AccountBalance(**dict(row)) for row in rows]


async def dated_amounts(
    conn: asyncpg.Connection, *, period: str | None, visible: Visibility
) -> list[DatedAmounts]:
    """The postings (the caller's cost centre's; finance: all) grouped by account line, UTC
    day and amount (what the group view translates)."""
    rows = await conn.fetch(
        f"""SELECT legal_entity, account, counterparty_entity, currency,
               (posted_at AT TIME ZONE 'UTC')::date AS day, debit, credit, count(*) AS count
           FROM postings
           WHERE ($1::text IS NULL OR period = $1) AND {visible.where(_LINE_PARTY, param=2)}
           GROUP BY legal_entity, account, counterparty_entity, currency, day, debit, credit""",
        period,
        visible.party,
    )
    return [DatedAmounts(**dict(row)) for row in rows]
