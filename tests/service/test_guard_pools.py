"""No caller can take the connections a service's own work needs (issue 23): requests and
exports have pools of their own, with server-side timeouts; when one is used up a caller gets
503 problem+json with Retry-After after a bounded wait (never a hang), while the pool of the
consumer, the relay and the clocks stays free. In process, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from monitoring.config import MonitoringSettings
from monitoring.main import create_app
from supplychain_kit import db
from support import auth

WAIT_S = 0.3


@pytest.fixture
async def monitoring(database: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    settings = MonitoringSettings(
        database_url=database.new_database(),
        kafka_bootstrap_servers="127.0.0.1:9",  # no broker: not needed here
        database_request_pool_size=2,
        database_export_pool_size=1,
        database_acquire_timeout_s=WAIT_S,
        database_idle_in_transaction_timeout_ms=1000,
        database_transaction_timeout_ms=1500,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://monitoring") as client:
            yield app, client


async def _hold_all(pool: asyncpg.Pool, size: int, stack: AsyncExitStack) -> None:
    for _ in range(size):
        await stack.enter_async_context(pool.acquire())


async def test_a_used_up_pool_answers_503_with_retry_after_and_the_services_own_pool_stays_free(
    monitoring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = monitoring
    runtime = app.state.runtime
    assert (await client.get("/v1/sla/policies", headers=auth("WHEELS"))).status_code == 200
    async with AsyncExitStack() as held:
        await _hold_all(runtime.request_pool.pool, 2, held)
        await _hold_all(runtime.export_pool.pool, 1, held)
        started = time.monotonic()
        busy = await client.get("/v1/sla/policies", headers=auth("WHEELS"))
        export = await client.get(
            "/v1/exports/ocel2?period=2025-01", headers={"Authorization": "Bearer dev-analyst-1"}
        )
        waited = time.monotonic() - started
        # the consumer's, the relay's and the clocks' pool: nobody above took from it
        async with runtime.pool.acquire(timeout=0.5) as conn:
            assert await conn.fetchval("SELECT 1") == 1
    assert waited < 2 * WAIT_S + 1.5, waited
    for refused, retry_after in ((busy, "2"), (export, "10")):
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == retry_after
        assert refused.json()["retry_after_s"] == int(retry_after)
    assert "no request connection free" in busy.json()["detail"]
    assert "no export connection free" in export.json()["detail"]
    # free again: answered
    assert (await client.get("/v1/sla/policies", headers=auth("WHEELS"))).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'supplychain_database_pool_timeouts_total{pool="export",service="monitoring"}' in metrics


async def _leave_a_transaction_idle(conn: asyncpg.Connection, *, seconds: float) -> None:
    async with conn.transaction():
        await conn.execute("SELECT 1")
        await asyncio.sleep(seconds)
        await conn.execute("SELECT 1")


async def test_the_server_ends_what_a_caller_leaves_waiting(
    monitoring: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """Statement and idle-in-transaction timeouts on the callers' pools, set by the server."""
    app, _ = monitoring
    runtime = app.state.runtime
    async with runtime.export_pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "2min"
        assert await conn.fetchval("SHOW idle_in_transaction_session_timeout") == "1s"
    async with runtime.request_pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "30s"
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
            await _leave_a_transaction_idle(conn, seconds=1.8)
    # the service's own work too: a frozen replica's relay leadership and claimed clocks
    # are released by the server
    async with runtime.pool.acquire() as conn:
        assert await conn.fetchval("SHOW statement_timeout") == "0"
        with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
            await _leave_a_transaction_idle(conn, seconds=1.8)


async def _keep_a_transaction_busy(conn: asyncpg.Connection, *, seconds: float) -> None:
    """Never idle in it (as a client frozen between the messages of one query: 'active')."""
    async with conn.transaction():
        for _ in range(int(seconds / 0.3)):
            await conn.execute("SELECT pg_sleep(0.3)")


async def test_the_server_ends_a_transaction_that_outlasts_the_limit_whatever_its_state(
    monitoring: tuple[FastAPI, httpx.AsyncClient], database: Any, tmp_path: Path
) -> None:
    """A transaction that is never idle is ended by the transaction limit (the service's own
    pool and the requests'), not an export's; a migration is not limited."""
    app, _ = monitoring
    runtime = app.state.runtime
    for pool in (runtime.pool, runtime.request_pool):
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW transaction_timeout") == "1500ms"
            with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError)):
                await _keep_a_transaction_busy(conn, seconds=2.4)
    async with runtime.export_pool.acquire() as conn:
        assert await conn.fetchval("SHOW transaction_timeout") == "0"
    (tmp_path / "0000_slow.sql").write_text("SELECT pg_sleep(2);\nCREATE TABLE slow (n int);\n")
    pool = await db.create_pool(database.new_database(), schema="slow", transaction_timeout_ms=500)
    try:
        assert await db.migrate(pool, schema="slow", files=[tmp_path / "0000_slow.sql"]) == [
            "0000_slow.sql"
        ]
    finally:
        await pool.close()
