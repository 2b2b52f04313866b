"""Issuing a credit note against a stored invoice: the one command SLA credits and disputes
share. Runs inside the caller's transaction (with the order's lock taken by the caller)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from uuid import UUID, uuid4

import asyncpg
from supplychain_contracts import CreditKind, CreditNoteIssued
from supplychain_kit.messaging import outbox
from supplychain_kit.messaging.effects import after_commit

from invoicing import domain, ledger, periods, store
from invoicing.domain import DocumentKind, IssuedInvoice
from invoicing.metrics import CREDITED_AMOUNT, REVERSED_AMOUNT


async def issue_credit_note(
    conn: asyncpg.Connection,
    invoice: IssuedInvoice,
    *,
    kind: CreditKind,
    amount: Decimal,
    reason: str,
    cause_event_id: UUID,
    caused_at: datetime,
    dispute_id: UUID | None = None,
    reverses_credit_note_id: UUID | None = None,
) -> CreditNoteIssued | None:
    """Credit `amount` of the invoice (its currency; rounded to it) and post it; None when
    nothing is issued: a zero amount, or the note of this cause exists already (the invoice's
    SLA credit, the dispute's, the reversal of that note). `amount` is the caller's to check
    against what is outstanding (`outstanding_on`); a reversal's is negative.

    The note is dated in the month of its cause, never before its invoice's; when that
    month is closed for the supplier's or requester's entity it posts in the first open one
    and names the original (`original_period`). Carries the invoice's requester currency and
    rate (`requester_amount`) and the supplier's legal entity."""
    if amount == 0:
        return None
    dated = domain.credit_note_period(invoice.period, caused_at)
    period, original = await periods.posting_period(
        conn,
        legal_entity=invoice.supplier.legal_entity,
        period=dated,
        counterparty_entity=invoice.requester.legal_entity,
    )
    terms = domain.CreditTerms(
        kind=kind,
        amount=amount,
        reason=reason,
        cause_event_id=cause_event_id,
        period=period,
        original_period=original,
        dispute_id=dispute_id,
        reverses_credit_note_id=reverses_credit_note_id,
    )
    note = domain.credit_note_for(invoice, terms, credit_note_id=uuid4())
    if not await store.save_credit_note(conn, note):
        return None
    posted = ledger.PostedDocument(
        kind=DocumentKind.CREDIT_NOTE,
        document_id=note.credit_note_id,
        period=note.period,
        currency=note.currency,
        posted_at=note.occurred_at,
        postings=ledger.postings_for_credit_note(invoice, note.amount),
    )
    await store.save_postings(conn, [posted])
    await outbox.append(conn, [note])
    # a counter never goes down: a reversal counts what it takes back in a counter of its own
    counter = CREDITED_AMOUNT if note.amount > 0 else REVERSED_AMOUNT
    counted = counter.labels(supplier=note.supplier, requester=note.requester, reason=kind.value)
    after_commit(lambda: counted.inc(float(abs(note.amount))))
    return note


async def outstanding_on(conn: asyncpg.Connection, invoice: IssuedInvoice) -> Decimal:
    """What is left to credit on the invoice after its credit notes."""
    return domain.outstanding(invoice, await store.credited_amount(conn, invoice.invoice_id))
