"""Composition root of fulfilment."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from fulfilment import api, store
from fulfilment.autopilot import run_autopilot
from fulfilment.config import FulfilmentSettings
from fulfilment.handlers import apply_event

SCHEMA = "fulfilment"


async def seed(pool: asyncpg.Pool) -> None:
    """Fulfilment's copy of the catalogue: suppliers, transfer prices, bills of materials."""
    async with pool.acquire() as conn, conn.transaction():
        await store.load_catalogue(conn, sample_company())


def create_app(settings: FulfilmentSettings | None = None) -> FastAPI:
    settings = settings or FulfilmentSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="fulfilment",
        # its own topic too: the events of the sub-orders it raised move their parents
        consumes=(topics.ORDERS, topics.FULFILMENT),
        produces=(topics.FULFILMENT, topics.ORDERS),
        apply=apply_event,
        seed=seed,
        jobs=(run_autopilot,),
    )
    return create_http_app(
        runtime,
        title="Department fulfilment",
        description=(
            "Each supplier department's work queue, the state machine of its orders and the "
            "sub-orders of the production chain."
        ),
        routers=[api.router],
    )
