"""Poison isolation in the kit's consumer, path proven: records fetched together are first tried
in one transaction; when a record that is not an outage fails it, the kit says so and applies
the batch one record at a time, so the poison alone is dead-lettered (once, after its retries)
and every record before and after it is applied exactly once.

Real PostgreSQL and a real broker (the dead letter is read back from `<topic>.dlq`); the
records are handed to the consumer as one fetched batch, so the test knows the path: each
effect notes the transaction it ran in.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import pytest
from faststream.kafka import KafkaBroker
from supplychain_contracts import topics
from supplychain_contracts.envelope import Event
from supplychain_contracts.topics import dead_letter_topic
from supplychain_kit import metrics
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from support import fetched, read_to_end
from support.events import order_placed
from support.service import ServicePool

ATTEMPTS = 2
GROUP = "hardening-poison"


class PoisonError(ValueError):
    """What a handler raises for an event it can never apply (not an outage)."""


def _count(outcome: str) -> float:
    sample = metrics.CONSUMED.labels(service=GROUP, topic=topics.ORDERS, outcome=outcome)
    return float(sample._value.get())


async def test_a_poison_record_mid_batch_fails_the_batch_once_then_only_it_is_dead_lettered(
    service_pool: ServicePool, broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await service_pool("fulfilment")  # any schema with the kit's inbox
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE effects (event_id uuid NOT NULL, txid bigint NOT NULL)")
    events = [order_placed() for _ in range(5)]
    poison = events[2]
    calls: list[tuple[uuid.UUID, int]] = []  # every attempt, committed or not

    async def apply(conn: asyncpg.Connection, event: Event) -> None:
        txid = int(await conn.fetchval("SELECT txid_current()"))
        calls.append((event.event_id, txid))
        if event.event_id == poison.event_id:
            raise PoisonError("this order can never be applied")
        await conn.execute("INSERT INTO effects VALUES ($1, $2)", event.event_id, txid)

    kafka = KafkaBroker(broker.bootstrap_servers)
    await kafka.start()
    consumer = ReliableConsumer(
        service=GROUP,
        topics=[topics.ORDERS],
        pool=pool,
        broker=kafka,
        apply=apply,
        config=ConsumerConfig(group_id=GROUP, max_attempts=ATTEMPTS, retry_backoff_s=0.01),
    )
    before = {outcome: _count(outcome) for outcome in ("applied", "dead_lettered", "duplicate")}
    try:
        with caplog.at_level(logging.INFO, logger="supplychain_kit.messaging.consumer"):
            await consumer.handle_batch(
                [fetched(e, offset, topic=topics.ORDERS) for offset, e in enumerate(events)]
            )
    finally:
        await kafka.stop()

    # the path: the first attempt took the records together, in one transaction, up to the
    # poison; it failed, said so, and then each record got a transaction of its own
    first_txid = calls[0][1]
    assert [event_id for event_id, _ in calls[:3]] == [e.event_id for e in events[:3]]
    assert {txid for _, txid in calls[:3]} == {first_txid}, "not tried as one batch first"
    assert any("batch of 5 failed" in m and "one by one" in m for m in caplog.messages), (
        caplog.messages
    )
    alone = calls[3:]
    assert [event_id for event_id, _ in alone].count(poison.event_id) == ATTEMPTS
    assert len({txid for _, txid in alone}) == len(alone), "records shared a transaction"
    assert first_txid not in {txid for _, txid in alone}

    async with pool.acquire() as conn:
        applied = await conn.fetch("SELECT event_id, txid FROM effects ORDER BY event_id")
        inbox = await conn.fetch("SELECT event_id FROM inbox WHERE consumer = $1", GROUP)
    good = [e.event_id for e in events if e is not poison]
    assert sorted(r["event_id"] for r in applied) == sorted(good)  # each exactly once
    assert len({r["txid"] for r in applied}) == len(good)  # committed one by one
    assert sorted(r["event_id"] for r in inbox) == sorted(good)  # the poison left no claim

    dlq = await read_to_end(broker.bootstrap_servers, [dead_letter_topic(topics.ORDERS)])
    assert [r.json["event_id"] for r in dlq] == [str(poison.event_id)]
    (dead,) = dlq
    assert dead.headers["dlq_error_type"] == "PoisonError"
    assert dead.headers["dlq_attempts"] == str(ATTEMPTS)
    assert dead.headers["dlq_source_offset"] == "2"
    assert dead.headers["dlq_consumer_group"] == GROUP
    after = {outcome: _count(outcome) - before[outcome] for outcome in before}
    assert after == {"applied": 4, "dead_lettered": 1, "duplicate": 0}, after
