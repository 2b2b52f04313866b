"""Consumed events: a delivered order is invoiced, and credited, exactly once.

Each handler runs inside the consumer's transaction (inbox + state + outbox). Deliveries,
shipments and breaches are batch handlers: the consecutive ones of a fetched batch come
together and take effect in a statement per kind of effect for all of them (each document
still published in the trace of its cause). Events of one order arrive on several topics, so
every handler that issues a document first takes the order's advisory lock (a run takes its
orders' locks in one statement, in the order of their ids). The departments invoices are issued between come from their owner's
DepartmentDefined on the reference topic; a delivery between departments not learnt yet
waits for them (store.DepartmentNotKnownYet, retried by the consumer for a bounded time,
then dead-lettered with the reason).

A cancellation is a request (OrderCancelled) that the supplier's fulfilment settles: only
WorkCancelled cancels the order, which is then never invoiced, and its waiting SLA claims
are dropped. Invoicing never credits a cancellation.

A breach monitoring retracts (SlaBreachRetracted: the stage ended by its deadline after all)
credits nothing: its waiting claim is dropped, or the credit note it caused is reversed by a
credit note of kind `reversal`, once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from uuid import UUID, uuid4

import asyncpg
from supplychain_contracts import (
    CreditKind,
    CreditNoteIssued,
    InvoiceIssued,
    OrderDelivered,
    OrderShipped,
    SlaBreached,
    SlaBreachRetracted,
    WorkCancelled,
)
from supplychain_contracts.reference import DepartmentDefined, FxRateDefined, LegalEntityDefined
from supplychain_kit.messaging import outbox
from supplychain_kit.messaging.dispatch import Batched, dispatch
from supplychain_kit.messaging.effects import after_commit
from supplychain_kit.telemetry import consumed_in

from invoicing import domain, ledger, metrics, periods, store
from invoicing.credit_notes import issue_credit_note
from invoicing.domain import DocumentKind
from invoicing.metrics import CANCELLED_DELIVERIES, DROPPED_CLAIMS, UNOWED_BREACHES

log = logging.getLogger(__name__)


async def define_department(conn: asyncpg.Connection, defined: DepartmentDefined) -> None:
    """Invoicing's copy of a department: the legal entity and cost centre invoices freeze."""
    department = defined.department
    await store.save_department(
        conn,
        domain.Party(department.code, department.legal_entity, department.cost_centre),
        active=defined.active,
        changed_at=defined.occurred_at,
    )


async def define_legal_entity(conn: asyncpg.Connection, defined: LegalEntityDefined) -> None:
    """Invoicing's copy of a legal entity: the currency its departments supply in."""
    entity = defined.legal_entity
    await store.save_legal_entity(
        conn,
        entity.code,
        currency=entity.currency,
        active=defined.active,
        changed_at=defined.occurred_at,
    )


async def define_fx_rate(conn: asyncpg.Connection, defined: FxRateDefined) -> None:
    """A rate of a pair from a day on: what the group view of the ledger translates at."""
    await store.save_fx_rate(conn, defined.fx_rate, active=defined.active)


async def record_shipments(conn: asyncpg.Connection, shipments: Sequence[OrderShipped]) -> None:
    """When the suppliers shipped: from then on the requester holds the order."""
    await store.record_shipments(conn, [(s.order_id, s.occurred_at) for s in shipments])


async def cancel_order(conn: asyncpg.Connection, cancelled: WorkCancelled) -> None:
    """The supplier settled a cancellation: never invoice the order, drop its waiting claims."""
    await store.lock_order(conn, cancelled.order_id)
    await store.mark_cancelled(
        conn,
        cancelled.order_id,
        supplier=cancelled.supplier,
        cancelled_at=cancelled.occurred_at,
        cause_event_id=cancelled.event_id,
    )
    dropped = await store.drop_pending_claims(conn, cancelled.order_id)
    if dropped:
        counted = DROPPED_CLAIMS.labels(supplier=cancelled.supplier)
        after_commit(lambda: counted.inc(dropped))


async def issue_invoices(conn: asyncpg.Connection, deliveries: Sequence[OrderDelivered]) -> None:
    """Invoice each delivered order once, in a statement per kind of effect for the run (the
    orders' locks, cancellations, parties, periods, invoices, postings, waiting claims); a
    redelivered OrderDelivered changes nothing. Each invoice and the credits it settles are
    published in the trace of its delivery."""
    firsts: dict[UUID, OrderDelivered] = {}
    for delivered in deliveries:
        firsts.setdefault(delivered.order_id, delivered)
    await store.lock_orders(conn, firsts)
    cancelled = await store.cancelled_among(conn, firsts)
    for delivered in deliveries:
        if delivered.order_id in cancelled:
            _delivered_after_cancellation(delivered)
    await store.record_shipments(
        conn,
        [
            (d.order_id, d.shipped_at)
            for d in deliveries
            if d.shipped_at is not None and d.order_id not in cancelled
        ],
    )
    charged = [d for d in firsts.values() if d.order_id not in cancelled]
    if not charged:
        return
    parties = await store.parties(
        conn, [code for d in charged for code in (d.supplier, d.requester)]
    )
    postings = await periods.posting_periods(
        conn,
        [
            periods.Dated(
                parties[d.supplier].legal_entity,
                domain.invoice_period(d),
                parties[d.requester].legal_entity,
            )
            for d in charged
        ],
    )
    invoices = [
        store.NewInvoice(
            domain.invoice_for_delivery(
                delivered,
                invoice_id=uuid4(),
                legal_entity=parties[delivered.supplier].legal_entity,
                period=posting.period,
                original_period=posting.original_period,
            ),
            supplier=parties[delivered.supplier],
            requester=parties[delivered.requester],
            delivered_event_id=delivered.event_id,
        )
        for delivered, posting in zip(charged, postings, strict=True)
    ]
    issued = await store.save_invoices(conn, invoices)
    new = [(d, i) for d, i in zip(charged, invoices, strict=True) if d.order_id in issued]
    await store.save_postings(
        conn, [_invoice_posted(issued[i.invoice.order_id], i.invoice) for _, i in new]
    )
    for delivered, invoice in new:
        with consumed_in(delivered):
            await outbox.append(conn, [invoice.invoice])
        _count_invoiced(invoice.invoice)
    if not new:
        return  # invoiced already: redelivered OrderDelivered events change nothing
    # Breaches that arrived before the invoices are credited right after them, in this
    # transaction.
    waiting = await store.take_pending_claims(
        conn, {order_id: invoice.requester.code for order_id, invoice in issued.items()}
    )
    for delivered, _ in new:
        stored = issued[delivered.order_id]
        for claim in domain.claims_for_invoice(stored, waiting.get(delivered.order_id, [])):
            with consumed_in(delivered):
                await settle_claim(conn, stored, claim)


def _delivered_after_cancellation(delivered: OrderDelivered) -> None:
    # a cancelled order is never charged; a delivery after its settlement is a bug upstream
    log.error(
        "order %s was delivered after its cancellation was settled: not invoiced",
        delivered.order_id,
    )
    counted = CANCELLED_DELIVERIES.labels(supplier=delivered.supplier)
    after_commit(counted.inc)


def _invoice_posted(issued: domain.IssuedInvoice, invoice: InvoiceIssued) -> ledger.PostedDocument:
    return ledger.PostedDocument(
        kind=DocumentKind.INVOICE,
        document_id=issued.invoice_id,
        period=issued.period,
        currency=issued.currency,
        posted_at=invoice.occurred_at,
        postings=ledger.postings_for_invoice(issued),
    )


def _count_invoiced(invoice: InvoiceIssued) -> None:
    invoiced = metrics.INVOICED_AMOUNT.labels(
        supplier=invoice.supplier, requester=invoice.requester
    )
    after_commit(lambda: invoiced.inc(float(invoice.total)))


async def credit_breaches(conn: asyncpg.Connection, breaches: Sequence[SlaBreached]) -> None:
    """Credit each breached order's invoice now, or remember the claim until the invoice is
    issued; a statement per kind of check for the run, a credit note per claim settled (in the
    trace of its breach). A cancelled order's breach claims nothing (it is never charged), nor
    does one already retracted (a redriven breach)."""
    claims = [(b, claim) for b in breaches if (claim := domain.claim_for_breach(b)) is not None]
    if not claims:
        return
    orders = {claim.order_id for _, claim in claims}
    await store.lock_orders(conn, orders)
    cancelled = await store.cancelled_among(conn, orders)
    retracted = await store.retracted_among(conn, [breach.event_id for breach, _ in claims])
    standing = [
        (breach, claim)
        for breach, claim in claims
        if claim.order_id not in cancelled and breach.event_id not in retracted
    ]
    invoices = await store.issued_invoices(conn, {claim.order_id for _, claim in standing})
    await store.remember_claims(conn, [c for _, c in standing if c.order_id not in invoices])
    for breach, claim in standing:
        invoice = invoices.get(claim.order_id)
        if invoice is not None and claim.supplier == invoice.supplier.code:
            with consumed_in(breach):
                await settle_claim(conn, invoice, claim)


async def reverse_breach_credit(conn: asyncpg.Connection, retracted: SlaBreachRetracted) -> None:
    """The breach was wrong: drop its waiting claim, or reverse the credit note it caused (a
    negative credit note of kind `reversal`, posted by the period rules of any credit note).
    Once per breach, however often the retraction is delivered."""
    await store.lock_order(conn, retracted.order_id)
    first = await store.record_retraction(
        conn,
        breach_event_id=retracted.breach_event_id,
        order_id=retracted.order_id,
        retraction_event_id=retracted.event_id,
        retracted_at=retracted.occurred_at,
    )
    if not first or await store.drop_claim_of(conn, retracted.breach_event_id):
        return
    credit = await store.sla_credit_of_breach(conn, retracted.breach_event_id)
    invoice = None if credit is None else await store.invoice_by_id(conn, credit.invoice_id)
    if credit is None or invoice is None:
        return  # it credited nothing (not owed, cancelled, 0 %): nothing to take back
    await issue_credit_note(
        conn,
        invoice,
        kind=CreditKind.REVERSAL,
        amount=-credit.amount,
        reason=domain.reversal_reason(credit, retracted),
        cause_event_id=retracted.event_id,
        caused_at=retracted.occurred_at,
        reverses_credit_note_id=credit.credit_note_id,
    )


async def settle_claim(
    conn: asyncpg.Connection, invoice: domain.IssuedInvoice, claim: domain.CreditClaim
) -> CreditNoteIssued | None:
    if await store.sla_credit_exists(conn, invoice.invoice_id):
        return None  # one SLA credit note per invoice: a repeated breach changes nothing
    if not domain.claim_is_owed(claim, await store.shipped_at(conn, invoice.order_id)):
        unowed = UNOWED_BREACHES.labels(supplier=invoice.supplier.code)
        after_commit(unowed.inc)
        return None  # an end-to-end deadline passed while the requester held the order
    amount = domain.claim_amount(
        invoice, claim, already_credited=await store.credited_amount(conn, invoice.invoice_id)
    )
    if amount <= 0:
        return None  # a 0 % or missing service credit, or nothing left outstanding
    return await issue_credit_note(
        conn,
        invoice,
        kind=CreditKind.SLA,
        amount=amount,
        reason=domain.sla_reason(claim),
        cause_event_id=claim.cause_event_id,
        caused_at=claim.caused_at,
    )


# The subscriber: what each consumed event class does; other events are ignored.
apply_event = dispatch(
    {
        OrderDelivered: Batched(issue_invoices),
        OrderShipped: Batched(record_shipments),
        WorkCancelled: cancel_order,
        SlaBreached: Batched(credit_breaches),
        SlaBreachRetracted: reverse_breach_credit,
        DepartmentDefined: define_department,
        LegalEntityDefined: define_legal_entity,
        FxRateDefined: define_fx_rate,
    }
)
