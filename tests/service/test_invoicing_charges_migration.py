"""Upgrades keep what is owed: an SLA claim pending when invoicing/0003 ran keeps the credit
its policy gave (0003 was amended to resolve it before the policies are dropped), and a
database that applied the first text of 0003 is not refused for the amendment (the file
declares the checksum it amends; any other change is still refused)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from invoicing.handlers import apply_event
from supplychain_contracts import CreditNoteIssued, OrderDelivered
from supplychain_kit import db
from supplychain_kit.db import MigrationChanged
from support.events import order_delivered

FIRST_0003 = "a54c80432742a94b8911441087a3e32dd09834d0ff29c5ae06828bee0a8ddac3"
AMENDED = "0003_sla_credit_on_the_claim.sql"


@pytest.fixture
async def pool(database: Any) -> AsyncIterator[asyncpg.Pool]:
    opened = await db.create_pool(database.new_database(), schema="invoicing", max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


def files() -> list[Any]:
    return db.kit_migrations() + db.package_migrations("invoicing")


def delivered(order_id: uuid.UUID, requester: str) -> OrderDelivered:
    return order_delivered(
        order_id=order_id,
        producer="fulfilment",
        supplier="ASSEMBLY",
        requester=requester,
        sku="BIKE-CITY",
        quantity=2,
        unit_price="299.00",
    )


async def test_a_claim_pending_at_the_upgrade_keeps_the_credit_its_policy_gave(
    pool: asyncpg.Pool,
) -> None:
    kit = db.kit_migrations()
    upto_0002 = [f for f in db.package_migrations("invoicing") if f.name < "0003"]
    await db.migrate(pool, schema="invoicing", files=[*kit, *upto_0002])
    rush, plain = uuid.uuid4(), uuid.uuid4()
    at = datetime(2025, 3, 14, 12, tzinfo=UTC)
    async with pool.acquire() as conn:  # what invoicing 0002 kept
        await conn.executemany(
            "INSERT INTO departments VALUES ($1, $2, $3)",
            [
                ("ASSEMBLY", "NC-MFG", "CC-1600"),
                ("RETAIL_OPS", "NC-RETAIL", "CC-2200"),
                ("FRAMES", "NC-MFG", "CC-1300"),
            ],
        )
        await conn.executemany(
            "INSERT INTO sla_policies VALUES ($1, $2, $3, $4)",
            [
                ("ASSEMBLY", "", "", Decimal("5")),
                ("ASSEMBLY", "", "rush", Decimal("10")),
                ("ASSEMBLY", "RETAIL_OPS", "", Decimal("8")),
            ],
        )
        await conn.execute("INSERT INTO order_terms VALUES ($1, 'rush')", rush)
        await conn.executemany(
            """INSERT INTO pending_credits (order_id, kind, supplier, detail, cause_event_id,
                   caused_at) VALUES ($1, 'sla_credit', 'ASSEMBLY', 'fulfilment breached',
                   $2, $3)""",
            [(rush, uuid.uuid4(), at), (plain, uuid.uuid4(), at)],
        )

    await db.migrate(pool, schema="invoicing", files=files())  # the upgrade
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM pending_credits") == 2
        for order_id, requester in ((rush, "RETAIL_OPS"), (plain, "FRAMES")):
            async with conn.transaction():
                await apply_event(conn, delivered(order_id, requester))
        notes = await conn.fetch("SELECT order_id, kind, amount FROM credit_notes")
        events = [row["payload"] for row in await conn.fetch("SELECT payload FROM outbox")]
    # RETAIL_OPS's own policy (8 %) beats the rush policy; FRAMES gets the supplier's 5 %
    assert {(n["order_id"], n["kind"], n["amount"]) for n in notes} == {
        (rush, "sla", Decimal("47.84")),
        (plain, "sla", Decimal("29.90")),
    }
    assert sum(1 for p in events if CreditNoteIssued.__name__ in str(p)) == 2


async def test_a_database_that_applied_the_first_text_of_0003_starts(pool: asyncpg.Pool) -> None:
    await db.migrate(pool, schema="invoicing", files=files())
    async with pool.acquire() as conn:
        await conn.execute(
            "UPDATE schema_migrations SET checksum = $1 WHERE name = $2", FIRST_0003, AMENDED
        )
    assert await db.migrate(pool, schema="invoicing", files=files()) == []
    async with pool.acquire() as conn:
        recorded = await conn.fetchval(
            "SELECT checksum FROM schema_migrations WHERE name = $1", AMENDED
        )
        # any other earlier text is still refused
        await conn.execute(
            "UPDATE schema_migrations SET checksum = $1 WHERE name = $2", "0" * 64, AMENDED
        )
    [amended] = [f for f in files() if f.name == AMENDED]
    assert recorded == db.checksum(amended)
    with pytest.raises(MigrationChanged):
        await db.migrate(pool, schema="invoicing", files=files())
