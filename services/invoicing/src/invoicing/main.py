"""Composition root of invoicing."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from invoicing import api, store
from invoicing.config import InvoicingSettings
from invoicing.handlers import apply_event

SCHEMA = "invoicing"


async def seed(pool: asyncpg.Pool) -> None:
    """The sample company's departments: the legal entities and cost centres invoices freeze."""
    async with pool.acquire() as conn, conn.transaction():
        await store.load_company(conn, sample_company())


def create_app(settings: InvoicingSettings | None = None) -> FastAPI:
    settings = settings or InvoicingSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="invoicing",
        # orders: OrderCancelled (cancellation credits); fulfilment: OrderDelivered (the
        # invoice); sla: SlaBreached with its service credit. OrderPlaced is not needed.
        consumes=(topics.ORDERS, topics.FULFILMENT, topics.SLA),
        produces=(topics.INVOICING,),
        apply=apply_event,
        seed=seed,
    )
    return create_http_app(
        runtime,
        title="Internal invoicing",
        description=(
            "Invoices and credit notes between cost centres for delivered handoffs, the "
            "double-entry internal ledger and department statements."
        ),
        routers=[api.router],
    )
