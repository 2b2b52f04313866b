"""Helpers of the service tier: read what a command or handler left in the database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
from fastapi import FastAPI
from supplychain_contracts.envelope import Envelope
from supplychain_contracts.registry import parse_event_strict
from supplychain_kit.messaging import effects
from supplychain_kit.messaging.dispatch import ApplyEvent

# The `service_pool` fixture: `await service_pool("fulfilment")` gives a migrated pool.
ServicePool = Callable[[str], Awaitable[asyncpg.Pool]]


async def outbox_events(conn: asyncpg.Connection) -> list[Any]:
    """The events a service wrote to its outbox, in the order they will be published."""
    rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    return [parse_event_strict(row["payload"]) for row in rows]


async def outbox_headers(conn: asyncpg.Connection) -> list[dict[str, str]]:
    rows = await conn.fetch("SELECT headers FROM outbox ORDER BY id")
    return [json.loads(row["headers"]) for row in rows]


@asynccontextmanager
async def consumer_transaction(pool: asyncpg.Pool) -> AsyncIterator[asyncpg.Connection]:
    """A transaction as the consumer runs one: the effects noted in it (metrics, wake-ups) run
    once it committed, never when it rolled back."""
    with effects.unit_of_work() as committed:
        async with pool.acquire() as conn, conn.transaction():
            yield conn
    effects.run(committed)


async def apply_events(pool: asyncpg.Pool, apply: ApplyEvent, *events: Envelope) -> None:
    """As the consumer applies: one transaction per event, effects run once it committed."""
    for event in events:
        async with consumer_transaction(pool) as conn:
            await apply(conn, event)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app running in process (its lifespan: migrations, pools; a broker it cannot reach
    is retried in the background) and a client of it, without a server or a port."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            yield client
