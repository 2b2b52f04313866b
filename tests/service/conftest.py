"""The service tier: commands and handlers run in process against the real PostgreSQL.

No broker and no HTTP: a test gets a pool on a fresh schema of a fresh database with the
service's migrations applied, calls a command or a handler the way a route or the consumer
would (one transaction), and reads the state and the outbox back. Faster than the
integration tier, which starts the services as processes with a broker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from supplychain_kit import db
from support.service import ServicePool


@pytest.fixture
async def service_pool(database: Any) -> AsyncIterator[ServicePool]:
    """`await service_pool("fulfilment")`: a pool on that service's schema, migrated."""
    url = database.new_database()
    pools: list[asyncpg.Pool] = []

    async def open_pool(package: str) -> asyncpg.Pool:
        pool = await db.create_pool(url, schema=package, max_size=4)
        files = db.kit_migrations() + db.package_migrations(package)
        await db.migrate(pool, schema=package, files=files)
        pools.append(pool)
        return pool

    try:
        yield open_pool
    finally:
        for pool in pools:
            await pool.close()
