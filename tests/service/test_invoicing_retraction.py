"""A retracted breach takes its service credit back (issue 22, item 3), in process on the real
PostgreSQL: a credit note issued for it is reversed by a credit note of kind `reversal` (its
negative, naming the note it reverses, balanced postings, posted by the period rules), exactly
once however often the retraction comes; a claim still waiting for its invoice is dropped; a
breach arriving after its retraction credits nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing import closing
from prometheus_client import REGISTRY
from supplychain_contracts import (
    CreditKind,
    CreditNoteIssued,
    OrderPlaced,
    SlaBreached,
    SlaBreachRetracted,
    Stage,
    follow_up,
)
from support.events import sla_breached
from support.invoicing_finance import APPLY, bike_order, delivered, learn_sample_company
from support.service import ServicePool, apply_events, outbox_events

MARCH = datetime(2026, 3, 10, 9, tzinfo=UTC)
TOTAL = Decimal("299.00")  # one BIKE-CITY from ASSEMBLY (NC-MFG) to RETAIL_OPS (NC-RETAIL)


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    pool = await service_pool("invoicing")
    await learn_sample_company(pool)
    return pool


def breached(order: OrderPlaced, at: datetime) -> SlaBreached:
    return sla_breached(
        order,
        occurred_at=at,
        stage=Stage.ACCEPTANCE,
        deadline=at - timedelta(seconds=10),
        target_seconds=30,  # started 40 s before `at`
        service_credit_pct=Decimal("10"),
    )


def retracted(breach: SlaBreached, at: datetime) -> SlaBreachRetracted:
    return follow_up(
        breach,
        SlaBreachRetracted,
        producer="monitoring",
        occurred_at=at,
        stage=breach.stage,
        started_at=breach.started_at,
        deadline=breach.deadline,
        target_seconds=breach.target_seconds,
        breach_event_id=breach.event_id,
        ended_at=breach.deadline - timedelta(seconds=5),
    )


async def credit_notes(pool: asyncpg.Pool, order: OrderPlaced) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT * FROM credit_notes WHERE order_id = $1 ORDER BY issued_at", order.order_id
        )
    return [dict(row) for row in rows]


async def published_notes(pool: asyncpg.Pool) -> list[CreditNoteIssued]:
    async with pool.acquire() as conn:
        return [e for e in await outbox_events(conn) if isinstance(e, CreditNoteIssued)]


async def balances(pool: asyncpg.Pool, order: OrderPlaced) -> dict[tuple[str, str], Decimal]:
    """Debit minus credit per entity and account of the order's documents."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT p.legal_entity, p.account, sum(p.debit - p.credit) AS net FROM postings p
               WHERE p.document_id IN (SELECT invoice_id FROM invoices WHERE order_id = $1
                                       UNION SELECT credit_note_id FROM credit_notes
                                             WHERE order_id = $1)
               GROUP BY p.legal_entity, p.account""",
            order.order_id,
        )
    return {(row["legal_entity"], row["account"]): row["net"] for row in rows}


def reversed_counted() -> float:
    labels = {"supplier": "ASSEMBLY", "requester": "RETAIL_OPS", "reason": "reversal"}
    return REGISTRY.get_sample_value("supplychain_credit_reversed_amount_total", labels) or 0.0


async def test_an_issued_credit_is_reversed_once_in_the_first_open_month(
    pool: asyncpg.Pool,
) -> None:
    order = bike_order()
    breach = breached(order, MARCH + timedelta(hours=1))
    await apply_events(pool, APPLY, delivered(order, at=MARCH), breach)
    (credit,) = await credit_notes(pool, order)
    assert (credit["kind"], credit["amount"], credit["period"]) == (
        "sla",
        Decimal("29.90"),
        "2026-03",
    )
    async with pool.acquire() as conn:  # March is closed before the retraction comes
        await closing.close_month(
            conn, legal_entity="NC-MFG", period="2026-03", by="finance-1", reason="March books"
        )
    counted = reversed_counted()

    retraction = retracted(breach, MARCH + timedelta(days=2))
    # redelivered, and the same retraction again under another id (a redrive): one reversal
    again = retraction.model_copy(update={"event_id": uuid.uuid4()})
    await apply_events(pool, APPLY, retraction, retraction, again)

    notes = await credit_notes(pool, order)
    assert len(notes) == 2
    reversal = notes[1]
    assert reversal["kind"] == CreditKind.REVERSAL.value
    assert reversal["amount"] == -credit["amount"]
    assert reversal["reverses_credit_note_id"] == credit["credit_note_id"]
    assert reversal["cause_event_id"] == retraction.event_id
    # dated in the retraction's month, closed: posted in the first open one, naming it
    assert (reversal["period"], reversal["original_period"]) == ("2026-04", "2026-03")
    assert "acceptance breach was retracted" in reversal["reason"]
    (_, issued) = await published_notes(pool)
    assert (issued.kind, issued.amount, issued.reverses_credit_note_id) == (
        CreditKind.REVERSAL,
        -credit["amount"],
        credit["credit_note_id"],
    )
    assert reversed_counted() == counted + float(credit["amount"])
    # the reversal posts the invoice's own sides again: the order nets to its full charge
    assert await balances(pool, order) == {
        ("NC-RETAIL", "internal_cost"): TOTAL,
        ("NC-RETAIL", "inter_entity_payable"): -TOTAL,
        ("NC-MFG", "inter_entity_receivable"): TOTAL,
        ("NC-MFG", "internal_revenue"): -TOTAL,
    }


async def test_a_claim_waiting_for_its_invoice_is_dropped(pool: asyncpg.Pool) -> None:
    order = bike_order()
    breach = breached(order, MARCH)
    await apply_events(pool, APPLY, breach, retracted(breach, MARCH + timedelta(minutes=1)))
    await apply_events(pool, APPLY, delivered(order, at=MARCH + timedelta(hours=1)))

    assert await credit_notes(pool, order) == []
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pending_credits") == 0
        assert await conn.fetchval("SELECT count(*) FROM invoices") == 1


async def test_a_breach_arriving_after_its_retraction_credits_nothing(pool: asyncpg.Pool) -> None:
    order = bike_order()
    breach = breached(order, MARCH + timedelta(hours=1))
    await apply_events(pool, APPLY, delivered(order, at=MARCH))
    await apply_events(pool, APPLY, retracted(breach, MARCH + timedelta(hours=2)), breach)

    assert await credit_notes(pool, order) == []
    assert await published_notes(pool) == []
