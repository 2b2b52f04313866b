"""Composition root of order intake."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI
from supplychain_contracts import topics
from supplychain_contracts.company import sample_company
from supplychain_kit.http import create_http_app
from supplychain_kit.runtime import ServiceRuntime

from order_intake import api, store
from order_intake.config import OrderIntakeSettings
from order_intake.handlers import apply_event

SCHEMA = "order_intake"


async def seed(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.load_company(conn, sample_company())


def create_app(settings: OrderIntakeSettings | None = None) -> FastAPI:
    settings = settings or OrderIntakeSettings()
    runtime = ServiceRuntime(
        settings=settings,
        schema=SCHEMA,
        migrations_package="order_intake",
        consumes=(topics.FULFILMENT, topics.INVOICING),
        produces=(topics.ORDERS,),
        apply=apply_event,
        seed=seed,
    )
    return create_http_app(
        runtime,
        title="Order intake",
        description="Departments and employees place internal orders with supplying departments.",
        routers=[api.router],
    )
