"""Invoicing never stalls on reference data: a delivery naming a department it never learns
is retried with backoff for the bounded wait (INVOICING_REFERENCE_WAIT_SECONDS; small here),
then dead-lettered with the reason, and the records after it are applied. The kit's
consumer, the invoicing subscriber, real PostgreSQL and a real broker."""

from __future__ import annotations

import time
from typing import Any

import pytest
from faststream.kafka import KafkaBroker
from invoicing.config import InvoicingSettings
from invoicing.handlers import apply_event
from invoicing.store import DepartmentNotKnownYet
from supplychain_contracts import OrderDelivered, topics
from supplychain_contracts.company import sample_company
from supplychain_contracts.topics import dead_letter_topic
from supplychain_kit.messaging.consumer import ReliableConsumer
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from support import fetched, read_to_end, reference_events
from support.events import order_delivered
from support.service import ServicePool, apply_events

WAIT_S = 0.5
GROUP = "invoicing-reference-wait"


def _delivered(supplier: str) -> OrderDelivered:
    return order_delivered(producer="fulfilment", supplier=supplier)


def test_the_wait_is_a_setting_of_invoicing_defaulting_to_two_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ConsumerConfig.from_settings(InvoicingSettings()).not_known_wait_s == 120
    monkeypatch.setenv("INVOICING_REFERENCE_WAIT_SECONDS", "7.5")
    assert ConsumerConfig.from_settings(InvoicingSettings()).not_known_wait_s == 7.5


async def test_an_unknown_department_is_retried_for_the_bound_then_dead_lettered_and_the_partition_moves_on(
    service_pool: ServicePool, broker: Any
) -> None:
    pool = await service_pool("invoicing")
    await apply_events(pool, apply_event, *reference_events(sample_company()))
    stuck, after = _delivered("NEVER_DEFINED"), _delivered("FRAMES")
    records = [
        fetched(stuck, 0, topic=topics.FULFILMENT),
        fetched(after, 1, topic=topics.FULFILMENT),
    ]

    kafka = KafkaBroker(broker.bootstrap_servers)
    await kafka.start()
    consumer = ReliableConsumer(
        service=GROUP,
        topics=[topics.FULFILMENT],
        pool=pool,
        broker=kafka,
        apply=apply_event,
        config=ConsumerConfig(
            group_id=GROUP, max_attempts=2, retry_backoff_s=0.02, not_known_wait_s=WAIT_S
        ),
    )
    started = time.monotonic()
    fetches = 0
    try:
        while True:  # the broker's redelivery of an uncommitted batch, as NACK_ON_ERROR does
            fetches += 1
            try:
                await consumer.handle_batch(records)
                break
            except DepartmentNotKnownYet:
                assert time.monotonic() - started < WAIT_S + 10, "never dead-lettered"
    finally:
        await kafka.stop()
    waited = time.monotonic() - started

    assert fetches > 1  # retried, with backoff, before giving up
    assert WAIT_S <= waited < WAIT_S + 10
    dlq = await read_to_end(broker.bootstrap_servers, [dead_letter_topic(topics.FULFILMENT)])
    [dead] = [r for r in dlq if r.json["event_id"] == str(stuck.event_id)]
    assert "unknown department NEVER_DEFINED" in dead.headers["dlq_error"]
    assert dead.headers["dlq_error_type"] == "DepartmentNotKnownYet"
    async with pool.acquire() as conn:
        invoiced = await conn.fetch("SELECT order_id FROM invoices")
    assert [row["order_id"] for row in invoiced] == [after.order_id]  # the partition moved on
