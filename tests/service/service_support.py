"""Helpers of the service tier: read what a command or handler left in the database."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from supplychain_contracts.registry import parse_event_strict

# The `service_pool` fixture: `await service_pool("fulfilment")` gives a migrated pool.
ServicePool = Callable[[str], Awaitable[asyncpg.Pool]]


async def outbox_events(conn: asyncpg.Connection) -> list[Any]:
    """The events a service wrote to its outbox, in the order they will be published."""
    rows = await conn.fetch("SELECT payload FROM outbox ORDER BY id")
    return [parse_event_strict(row["payload"]) for row in rows]


async def outbox_headers(conn: asyncpg.Connection) -> list[dict[str, str]]:
    rows = await conn.fetch("SELECT headers FROM outbox ORDER BY id")
    return [json.loads(row["headers"]) for row in rows]
