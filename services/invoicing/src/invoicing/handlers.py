"""Consumed events: a delivered order is invoiced, and credited, exactly once.

Each handler runs inside the consumer's transaction (inbox + state + outbox). Events of one
order arrive on several topics, so every handler that issues a document first takes the
order's advisory lock. The departments invoices are issued between come from their owner's
DepartmentDefined on the reference topic; a delivery between departments not learnt yet
waits for them (store.DepartmentNotKnownYet, retried by the consumer).
"""

from __future__ import annotations

from uuid import uuid4

import asyncpg
from supplychain_contracts import (
    CreditNoteIssued,
    OrderCancelled,
    OrderDelivered,
    SlaBreached,
)
from supplychain_contracts.reference import DepartmentDefined
from supplychain_kit import metrics, outbox
from supplychain_kit.consumer import dispatch
from supplychain_kit.effects import after_commit

from invoicing import domain, ledger, store
from invoicing.domain import DocumentKind
from invoicing.metrics import CREDITED_AMOUNT


async def define_department(conn: asyncpg.Connection, defined: DepartmentDefined) -> None:
    """Invoicing's copy of a department: the legal entity and cost centre invoices freeze."""
    department = defined.department
    await store.save_department(
        conn,
        domain.Party(department.code, department.legal_entity, department.cost_centre),
        active=defined.active,
        changed_at=defined.occurred_at,
    )


async def issue_invoice(conn: asyncpg.Connection, delivered: OrderDelivered) -> None:
    await store.lock_order(conn, delivered.order_id)
    invoice = domain.invoice_for_delivery(delivered, invoice_id=uuid4())
    issued = await store.save_invoice(
        conn,
        invoice,
        supplier=await store.party(conn, invoice.supplier),
        requester=await store.party(conn, invoice.requester),
        delivered_event_id=delivered.event_id,
    )
    if issued is None:
        return  # the order is invoiced already: a redelivered OrderDelivered changes nothing
    await store.save_postings(
        conn,
        ledger.postings_for_invoice(issued),
        document_kind=DocumentKind.INVOICE,
        document_id=issued.invoice_id,
        period=issued.period,
        currency=issued.currency,
        posted_at=invoice.occurred_at,
    )
    await outbox.append(conn, [invoice])
    invoiced = metrics.INVOICED_AMOUNT.labels(
        supplier=invoice.supplier, requester=invoice.requester
    )
    after_commit(lambda: invoiced.inc(float(invoice.total)))
    # Causes that arrived before the invoice are credited right after it, in this transaction.
    waiting = await store.take_pending_claims(conn, issued.order_id)
    for claim in domain.claims_for_invoice(issued, waiting):
        await settle_claim(conn, issued, claim)


async def credit_cancellation(conn: asyncpg.Connection, cancelled: OrderCancelled) -> None:
    await credit_order(conn, domain.claim_for_cancellation(cancelled))


async def credit_breach(conn: asyncpg.Connection, breach: SlaBreached) -> None:
    claim = domain.claim_for_breach(breach)
    if claim is not None:
        await credit_order(conn, claim)


async def credit_order(conn: asyncpg.Connection, claim: domain.CreditClaim) -> None:
    """Credit the order's invoice now, or remember the claim until the invoice is issued."""
    await store.lock_order(conn, claim.order_id)
    invoice = await store.issued_invoice(conn, claim.order_id)
    if invoice is None:
        await store.remember_claim(conn, claim)
    elif claim.supplier == invoice.supplier.code:
        await settle_claim(conn, invoice, claim)


async def settle_claim(
    conn: asyncpg.Connection, invoice: domain.IssuedInvoice, claim: domain.CreditClaim
) -> CreditNoteIssued | None:
    if await store.credit_note_exists(conn, invoice.invoice_id, claim.kind):
        return None  # one credit note per invoice and kind: a repeated cause changes nothing
    amount = domain.credit_amount(
        invoice, claim, already_credited=await store.credited_amount(conn, invoice.invoice_id)
    )
    if amount <= 0:
        return None  # a 0 % or missing service credit, or nothing left outstanding
    note = domain.credit_note_for(invoice, claim, amount=amount, credit_note_id=uuid4())
    if not await store.save_credit_note(conn, note, kind=claim.kind):
        return None
    await store.save_postings(
        conn,
        ledger.postings_for_credit_note(invoice, amount),
        document_kind=DocumentKind.CREDIT_NOTE,
        document_id=note.credit_note_id,
        period=note.period,
        currency=note.currency,
        posted_at=note.occurred_at,
    )
    await outbox.append(conn, [note])
    credited = CREDITED_AMOUNT.labels(
        supplier=note.supplier, requester=note.requester, reason=claim.kind.value
    )
    after_commit(lambda: credited.inc(float(note.amount)))
    return note


# The subscriber: what each consumed event class does; other events are ignored.
apply_event = dispatch(
    {
        OrderDelivered: issue_invoice,
        OrderCancelled: credit_cancellation,
        SlaBreached: credit_breach,
        DepartmentDefined: define_department,
    }
)
