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
    runtime = ServiceRuntime[OrderIntakeSettings](
        settings=settings or OrderIntakeSettings(),
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
        description=DESCRIPTION,
        routers=[api.router],
    )


DESCRIPTION = """Departments and employees place internal orders with supplying departments.

Authenticate as a department with `Authorization: Bearer <department key>`; a department
places, reads, approves and cancels only its own orders. Every error is an RFC 9457
`application/problem+json` document naming the offending field in `errors`."""
