"""Invoicing's handlers in process on the real PostgreSQL: a delivered order is invoiced once,
with balanced postings and InvoiceIssued in the outbox; its credits follow the invoice, an SLA
credit at the percentage its SlaBreached carries (monitoring resolves the policy). The
departments it invoices between come from their owner's DepartmentDefined, applied by its
handlers as the consumer would."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing.handlers import apply_event
from invoicing.store import DepartmentNotKnownYet
from supplychain_contracts import (
    CreditNoteIssued,
    Envelope,
    InvoiceIssued,
    OrderCancelled,
    OrderDelivered,
    OrderLine,
    OrderPlaced,
    SlaBreached,
    Stage,
    follow_up,
    utc_now,
)
from supplychain_contracts.company import Department, sample_company
from supplychain_contracts.reference import department_defined
from support import reference_events
from support.events import order_placed, sla_breached
from support.service import ServicePool, apply_events, outbox_events

# ASSEMBLY (NC-MFG) supplies RETAIL_OPS (NC-RETAIL): an invoice across legal entities, so
# both entities' books get their inter-entity lines.
BIKES = (OrderLine(sku="BIKE-CITY", quantity=2, unit_price=Decimal("299.00")),)
TOTAL = Decimal("598.00")


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    """Invoicing with the sample company's departments, learnt from the owner's events."""
    pool = await service_pool("invoicing")
    await consume(pool, *reference_events(sample_company()))
    return pool


async def consume(pool: asyncpg.Pool, *events: Envelope) -> None:
    """Apply each event in its own transaction, as the consumer does."""
    await apply_events(pool, apply_event, *events)


def placed() -> OrderPlaced:
    """The order the other events follow up; invoicing itself ignores OrderPlaced."""
    return order_placed(
        producer="order-intake", supplier="ASSEMBLY", requester="RETAIL_OPS", lines=BIKES
    )


def delivered(order: OrderPlaced) -> OrderDelivered:
    return follow_up(order, OrderDelivered, producer="fulfilment", lines=order.lines)


def breached(
    order: OrderPlaced, stage: Stage = Stage.FULFILMENT, *, pct: str | None = "10"
) -> SlaBreached:
    now = utc_now()
    return sla_breached(
        order,
        stage=stage,
        started_at=now,
        deadline=now,
        service_credit_pct=None if pct is None else Decimal(pct),
    )


async def rows(pool: asyncpg.Pool, query: str, *args: Any) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(row) for row in await conn.fetch(query, *args)]


async def published(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def unbalanced_entities(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    """Legal entities whose books do not balance (none, when every document is double-entry)."""
    return await rows(
        pool,
        """SELECT legal_entity, sum(debit) AS debit, sum(credit) AS credit FROM postings
           GROUP BY legal_entity HAVING sum(debit) <> sum(credit)""",
    )


async def test_a_delivered_order_gets_one_invoice_balanced_postings_and_invoice_issued(
    pool: asyncpg.Pool,
) -> None:
    order = placed()
    delivery = delivered(order)
    await consume(pool, order, delivery)

    [invoice] = await rows(pool, "SELECT * FROM invoices WHERE order_id = $1", order.order_id)
    assert invoice["total"] == TOTAL
    assert (invoice["supplier_legal_entity"], invoice["requester_legal_entity"]) == (
        "NC-MFG",
        "NC-RETAIL",
    )
    assert (invoice["supplier_cost_centre"], invoice["requester_cost_centre"]) == (
        "CC-1600",
        "CC-2200",
    )
    assert invoice["delivered_event_id"] == delivery.event_id

    postings = await rows(
        pool,
        "SELECT * FROM postings WHERE document_id = $1 ORDER BY line_no",
        invoice["invoice_id"],
    )
    assert {p["document_kind"] for p in postings} == {"invoice"}
    assert {(p["legal_entity"], p["account"]): p["debit"] - p["credit"] for p in postings} == {
        ("NC-RETAIL", "internal_cost"): TOTAL,
        ("NC-RETAIL", "inter_entity_payable"): -TOTAL,
        ("NC-MFG", "inter_entity_receivable"): TOTAL,
        ("NC-MFG", "internal_revenue"): -TOTAL,
    }
    assert await unbalanced_entities(pool) == []

    [issued] = await published(pool)
    assert isinstance(issued, InvoiceIssued)
    assert issued.invoice_id == invoice["invoice_id"]
    assert (issued.order_id, issued.causation_id) == (order.order_id, delivery.event_id)
    assert (issued.supplier, issued.requester, issued.total) == ("ASSEMBLY", "RETAIL_OPS", TOTAL)
    assert issued.producer == "invoicing"


async def test_a_delivery_applied_twice_still_invoices_once(pool: asyncpg.Pool) -> None:
    order = placed()
    delivery = delivered(order)
    reported_again = delivered(order)  # the same delivery reported under a new event id
    await consume(pool, order, delivery, delivery, reported_again)

    assert len(await rows(pool, "SELECT 1 FROM invoices")) == 1
    assert len(await rows(pool, "SELECT 1 FROM invoice_lines")) == 1
    assert len(await rows(pool, "SELECT 1 FROM postings")) == 4
    assert [type(e) for e in await published(pool)] == [InvoiceIssued]


async def test_concurrent_deliveries_of_one_order_invoice_it_once(pool: asyncpg.Pool) -> None:
    """The insert's conflict on the order, under the order's lock, is the only guard."""
    order = placed()
    await consume(pool, order)
    await asyncio.gather(*(consume(pool, delivered(order)) for _ in range(3)))

    assert len(await rows(pool, "SELECT 1 FROM invoices")) == 1
    assert len(await rows(pool, "SELECT 1 FROM postings")) == 4
    assert [type(e) for e in await published(pool)] == [InvoiceIssued]


async def test_a_breach_known_before_the_invoice_is_credited_right_after_it(
    pool: asyncpg.Pool,
) -> None:
    order = placed()
    breach = breached(order, pct="10")
    await consume(pool, order, breach)
    assert len(await rows(pool, "SELECT 1 FROM pending_credits")) == 1
    assert await published(pool) == []  # nothing to credit yet

    await consume(pool, delivered(order))

    invoice, note = await published(pool)
    assert isinstance(invoice, InvoiceIssued)
    assert isinstance(note, CreditNoteIssued)
    assert note.invoice_id == invoice.invoice_id
    assert note.amount == Decimal("59.80")  # the breach's 10 % of 598.00
    assert note.causation_id == breach.event_id
    assert note.period == invoice.period
    assert note.reason == "sla: fulfilment stage breached its 600s target; 10% service credit"
    assert await rows(pool, "SELECT 1 FROM pending_credits") == []
    [stored] = await rows(pool, "SELECT kind, amount FROM credit_notes")
    assert stored == {"kind": "sla", "amount": Decimal("59.80")}
    credit_postings = await rows(pool, "SELECT * FROM postings WHERE document_kind = 'credit_note'")
    assert len(credit_postings) == 4
    assert await unbalanced_entities(pool) == []


async def test_a_cancellation_request_credits_nothing(pool: asyncpg.Pool) -> None:
    """OrderCancelled is a request the supplier settles: invoicing never credits it (a
    refused cancellation is delivered and charged in full)."""
    order = placed()
    request = follow_up(order, OrderCancelled, producer="order-intake", reason="too late")
    await consume(pool, order, delivered(order), request)

    [invoice] = await published(pool)
    assert isinstance(invoice, InvoiceIssued) and invoice.total == TOTAL
    assert await rows(pool, "SELECT 1 FROM credit_notes") == []


@pytest.mark.parametrize("breach_first", [True, False], ids=["before-invoice", "after-invoice"])
async def test_a_breach_credits_the_percentage_it_carries_before_or_after_the_invoice(
    pool: asyncpg.Pool, breach_first: bool
) -> None:
    order = placed()
    breach, delivery = breached(order, pct="10"), delivered(order)
    await consume(pool, *((breach, delivery) if breach_first else (delivery, breach)))

    invoice, note = await published(pool)
    assert isinstance(invoice, InvoiceIssued)
    assert isinstance(note, CreditNoteIssued)
    assert (note.invoice_id, note.amount) == (invoice.invoice_id, Decimal("59.80"))
    assert note.reason.endswith("; 10% service credit")  # however the claim travelled
    assert await rows(pool, "SELECT 1 FROM pending_credits") == []
    assert await unbalanced_entities(pool) == []


@pytest.mark.parametrize("breach_first", [True, False], ids=["before-invoice", "after-invoice"])
async def test_a_breach_without_a_percentage_credits_nothing(
    pool: asyncpg.Pool, breach_first: bool
) -> None:
    """A breach published before SlaBreached carried the service credit."""
    order = placed()
    breach, delivery = breached(order, pct=None), delivered(order)
    await consume(pool, *((breach, delivery) if breach_first else (delivery, breach)))

    assert [type(e) for e in await published(pool)] == [InvoiceIssued]
    assert await rows(pool, "SELECT 1 FROM credit_notes") == []
    assert await rows(pool, "SELECT 1 FROM pending_credits") == []


async def test_invoicing_keeps_no_sla_policies_of_its_own(pool: asyncpg.Pool) -> None:
    tables = await rows(
        pool,
        """SELECT table_name FROM information_schema.tables
           WHERE table_schema = current_schema() AND table_name IN ('sla_policies', 'order_terms')""",
    )
    assert tables == []


# --- the departments, as their owner defines them ------------------------------------------


def department(code: str, **changes: Any) -> Department:
    found = sample_company().department(code)
    assert found is not None
    return found.model_copy(update=changes)


async def test_invoicing_an_unknown_department_is_refused_not_invented(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("invoicing")
    await consume(pool, department_defined(department("ASSEMBLY"), producer="order-intake"))
    order = placed()  # ASSEMBLY supplies RETAIL_OPS, which invoicing has not learnt yet

    with pytest.raises(DepartmentNotKnownYet) as refused:
        await consume(pool, delivered(order))
    assert refused.value.code == "RETAIL_OPS"
    assert await rows(pool, "SELECT 1 FROM invoices") == []
    assert await rows(pool, "SELECT 1 FROM postings") == []
    assert await published(pool) == []

    # the consumer fetches the delivery again; once the department is known it is invoiced
    delivery = delivered(order)
    await consume(pool, department_defined(department("RETAIL_OPS"), producer="order-intake"))
    await consume(pool, delivery)
    [invoice] = await rows(pool, "SELECT * FROM invoices")
    assert (invoice["requester_legal_entity"], invoice["requester_cost_centre"]) == (
        "NC-RETAIL",
        "CC-2200",
    )


async def test_a_removed_department_is_kept_inactive_and_still_invoiced_for_its_orders(
    pool: asyncpg.Pool,
) -> None:
    order = placed()
    await consume(
        pool,
        department_defined(department("RETAIL_OPS"), producer="order-intake", active=False),
        delivered(order),
    )

    [stored] = await rows(pool, "SELECT * FROM departments WHERE code = 'RETAIL_OPS'")
    assert (stored["active"], stored["cost_centre"]) == (False, "CC-2200")
    [invoice] = await rows(pool, "SELECT * FROM invoices WHERE order_id = $1", order.order_id)
    assert invoice["requester_cost_centre"] == "CC-2200"


async def test_a_reorganised_department_charges_new_invoices_and_old_ones_keep_their_parties(
    pool: asyncpg.Pool,
) -> None:
    old_order, new_order = placed(), placed()
    await consume(pool, delivered(old_order))
    moved = department_defined(
        department("RETAIL_OPS", legal_entity="NC-MFG", cost_centre="CC-9900"),
        producer="order-intake",
        changed_by="admin-1",
    )
    late_older = department_defined(
        department("RETAIL_OPS", cost_centre="CC-0000"),
        producer="order-intake",
        occurred_at=moved.occurred_at - timedelta(minutes=5),
    )
    await consume(pool, moved, late_older, delivered(new_order))
    await consume(pool, breached(old_order, pct="10"))  # credited against the old invoice

    invoices = {
        row["order_id"]: (row["requester_legal_entity"], row["requester_cost_centre"])
        for row in await rows(pool, "SELECT * FROM invoices")
    }
    assert invoices == {
        old_order.order_id: ("NC-RETAIL", "CC-2200"),  # frozen at issue
        new_order.order_id: ("NC-MFG", "CC-9900"),  # the late, older change is ignored
    }
    credit_postings = await rows(
        pool, "SELECT legal_entity, cost_centre FROM postings WHERE document_kind = 'credit_note'"
    )
    # the credit note posts between the parties its invoice froze
    assert {(p["legal_entity"], p["cost_centre"]) for p in credit_postings} == {
        ("NC-MFG", "CC-1600"),
        ("NC-RETAIL", "CC-2200"),
    }
    assert await unbalanced_entities(pool) == []
