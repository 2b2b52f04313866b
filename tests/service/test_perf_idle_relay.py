"""A quiet idle (issue 24): the relay publishes on its transactions' NOTIFY alone (its sweep an
hour away here), and published rows are deleted once their retention has passed, unpublished
ones never. Real Tansu and PostgreSQL, the producer and send function the services use."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from supplychain_contracts import topics
from supplychain_kit import db
from supplychain_kit.messaging import outbox
from supplychain_kit.runtime import create_relay_producer, send_record
from supplychain_kit.settings import ServiceSettings
from support import read_records
from support.events import order_placed

SCHEMA = "fulfilment"


async def test_the_relay_publishes_on_notify_without_polling(database: Any, broker: Any) -> None:
    url = database.new_database()
    pool = await db.create_pool(url, schema=SCHEMA, max_size=4)
    await db.migrate(pool, schema=SCHEMA, files=db.kit_migrations())
    settings = ServiceSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers, service_name="idle-test"
    )
    producer = create_relay_producer(settings)
    await producer.start()

    async def publish(topic: str, key: bytes, payload: bytes, headers: dict[str, str]) -> Any:
        return await send_record(producer, topic, key, payload, headers)

    relay = outbox.OutboxRelay(
        pool=pool, publish=publish, schema=SCHEMA, service="idle-test", poll_interval=3600
    )
    task = asyncio.create_task(relay.run())
    try:
        # the second after the relay went to sleep, the third after its LISTEN connection was
        # killed (a database restart): it listens again and catches up
        for step, placed in enumerate(
            (
                order_placed(producer="idle-test"),
                order_placed(producer="idle-test"),
                order_placed(producer="idle-test"),
            )
        ):
            async with pool.acquire() as conn, conn.transaction():
                if step == 2:
                    killed = await conn.fetchval(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
                    )
                    assert killed == 1
                await outbox.append(conn, [placed])
            key = placed.message_key().encode()
            await read_records(
                broker.bootstrap_servers,
                [topics.ORDERS],
                until=lambda records, key=key: key in {r.key for r in records},
                timeout=15,
            )
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await producer.stop()
        await pool.close()


async def test_published_rows_are_deleted_after_the_retention_unpublished_kept(
    database: Any,
) -> None:
    url = database.new_database()
    pool = await db.create_pool(url, schema=SCHEMA, max_size=2)
    await db.migrate(pool, schema=SCHEMA, files=db.kit_migrations())
    try:
        async with pool.acquire() as conn:
            async with conn.transaction():
                await outbox.append(conn, [order_placed(producer="idle-test") for _ in range(7)])
            ids = await conn.fetch("SELECT id FROM outbox ORDER BY id")
            old, recent, unpublished = ids[:5], ids[5:6], ids[6:]
            await conn.execute(
                "UPDATE outbox SET published_at = now() - interval '2 hours' "
                "WHERE id = ANY($1::bigint[])",
                [r["id"] for r in old],
            )
            await conn.execute(
                "UPDATE outbox SET published_at = now() WHERE id = $1", recent[0]["id"]
            )
            deleted = await outbox.delete_published(conn, older_than_s=3600, batch=2)
            left = [r["id"] for r in await conn.fetch("SELECT id FROM outbox ORDER BY id")]
        assert deleted == 5  # in batches of 2
        assert left == [recent[0]["id"], unpublished[0]["id"]]
    finally:
        await pool.close()
