"""A consumer whose database goes away in the middle of a batch while its broker is frozen,
then both come back: every record's effect is applied exactly once and none is skipped (the
offsets never moved past records whose effect did not commit).

Fulfilment is held inside a batch's transaction (its insert of work items waits on a lock
the test holds); then the broker is frozen (SIGSTOP) and every PostgreSQL connection of the
service is terminated, again and again for a while, so its retries fail too; then the lock is
released, the database lets the service in again and the broker is thawed.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer
from supplychain_contracts import topics
from support import placed_event_json, poll_http
from support.fulfilment import orders_consumed

pytestmark = pytest.mark.integration

ORDERS = 20
DATABASE_DOWN_S = 1.5
BROKER_FROZEN_S = 3.0


async def _service_backends(conn: asyncpg.Connection, *, waiting: bool) -> list[int]:
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    rows = await conn.fetch(
        """SELECT pid FROM pg_stat_activity
           WHERE application_name = 'fulfilment' AND datname = current_database()
             AND ($1::bool IS FALSE OR (wait_event_type = 'Lock' AND xact_start IS NOT NULL))""",
        waiting,
    )
    return [int(row["pid"]) for row in rows]


async def _until(condition, what: str, timeout: float = 30):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not (found := await condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout}s")
        await asyncio.sleep(0.05)
    return found


async def test_a_consumer_losing_its_database_mid_batch_with_its_broker_frozen_applies_each_once(
    start_service, broker, needs_embedded_broker
) -> None:
    fulfilment = start_service("fulfilment", env={"CONSUMER_MAX_ATTEMPTS": "2"})
    tansu_pid = broker.tansu.process.pid
    admin = await asyncpg.connect(start_service.database_url)
    blocker = await asyncpg.connect(start_service.database_url)
    held = blocker.transaction()
    released = False
    try:
        await held.start()
        await blocker.execute("LOCK TABLE fulfilment.work_items IN EXCLUSIVE MODE")  # reads pass
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap_servers)
        await producer.start()
        order_ids = []
        try:
            for _ in range(ORDERS):
                order_id, payload = placed_event_json()
                order_ids.append(order_id)
                await producer.send(topics.ORDERS, payload, key=order_id.encode())
            await producer.flush()
        finally:
            await producer.stop()
        # inside a batch's transaction: its inbox claims made, its effect waiting on our lock
        (inside,) = await _until(
            lambda: _service_backends(admin, waiting=True), "no fulfilment backend waited"
        )

        os.kill(tansu_pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + DATABASE_DOWN_S
            terminated = 0
            while time.monotonic() < deadline:  # the database refuses the service for a while
                for pid in await _service_backends(admin, waiting=False):
                    terminated += bool(await admin.fetchval("SELECT pg_terminate_backend($1)", pid))
                await asyncio.sleep(0.02)
            await held.rollback()
            released = True
            assert inside not in await _service_backends(admin, waiting=False)
            assert terminated >= 1
            claimed = await admin.fetchval(
                "SELECT count(*) FROM fulfilment.inbox WHERE event_type = 'OrderPlaced'"
            )
            assert claimed == 0, "claims of a transaction that never committed survived"
            await asyncio.sleep(BROKER_FROZEN_S - DATABASE_DOWN_S)  # the outage's length
        finally:
            os.kill(tansu_pid, signal.SIGCONT)

        async def all_applied() -> bool:
            applied = await admin.fetchval(
                "SELECT count(*) FROM fulfilment.work_items WHERE order_id = ANY($1::uuid[])",
                order_ids,
            )
            return applied == ORDERS

        await _until(all_applied, "not every order was applied", timeout=60)
        rows = await admin.fetch(
            "SELECT order_id::text AS id, count(*) AS n FROM fulfilment.work_items GROUP BY 1"
        )
        assert {r["id"]: r["n"] for r in rows} == dict.fromkeys(order_ids, 1)
        claims = await admin.fetchval(
            "SELECT count(*) FROM fulfilment.inbox WHERE event_type = 'OrderPlaced'"
        )
        assert claims == ORDERS
        async with httpx.AsyncClient(base_url=fulfilment.url) as client:
            metrics = await poll_http(
                client,
                "/metrics",
                until=lambda r: orders_consumed(r.text, "applied") >= ORDERS,
            )
        # each committed once (a redelivery after an uncommitted offset is a duplicate, not
        # a second effect); the outage was met with retries, not skipped
        assert orders_consumed(metrics.text, "applied") == ORDERS
        assert orders_consumed(metrics.text, "retried") >= 1
        assert orders_consumed(metrics.text, "dead_lettered") == 0
        # and an outage is never taken for a poison record: no batch split, no record given up
        log = fulfilment.log_file.read_text()
        assert "applying one by one" not in log and "failed to apply" not in log, [
            line[:300] for line in log.splitlines() if "one by one" in line or "failed to" in line
        ]
    finally:
        if not released:
            await held.rollback()
        await blocker.close()
        await admin.close()
