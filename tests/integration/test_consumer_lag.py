"""Consumer lag tells the truth: measured from the broker's offsets by a background task, it
keeps rising while a consumer is frozen, as monitoring (which measures every group) shows."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable

import httpx
import pytest
from supplychain_contracts import topics
from support.metrics import samples
from support.monitoring import accepted, publish

pytestmark = pytest.mark.integration

FAST_LAG = {"KAFKA_LAG_INTERVAL_S": "0.3"}


def lag_of(metrics_text: str, name: str, *, group: str, topic: str) -> float | None:
    """Sum of a lag gauge over the group's partitions of the topic (None: not reported)."""
    reported = samples(metrics_text, name, group=group, topic=topic)
    return sum(sample.value for sample in reported) if reported else None


async def wait_for_lag(
    client: httpx.AsyncClient,
    name: str,
    *,
    group: str,
    check: Callable[[float], bool],
    timeout: float = 30,
) -> float:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        text = (await client.get("/metrics")).text
        value = lag_of(text, name, group=group, topic=topics.FULFILMENT)
        if value is not None and check(value):
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{name} of {group} never satisfied the check; last {value}")


async def test_monitoring_sees_a_frozen_consumers_lag_keep_rising(start_service, broker) -> None:
    invoicing = start_service("invoicing", env=FAST_LAG)
    group = invoicing.env["CONSUMER_GROUP"]
    monitoring = start_service("monitoring", env={**FAST_LAG, "KAFKA_LAG_GROUPS": group})
    bootstrap = broker.bootstrap_servers

    async def fulfilment_events(count: int) -> None:
        for _ in range(count):
            await publish(bootstrap, accepted(uuid.uuid4()), trace_id=uuid.uuid4().hex)

    # invoicing reads the fulfilment topic and has caught up: both observers say lag 0
    await fulfilment_events(3)
    async with (
        httpx.AsyncClient(base_url=monitoring.url) as observer,
        httpx.AsyncClient(base_url=invoicing.url) as own,
    ):
        for client in (observer, own):
            await wait_for_lag(
                client, "supplychain_consumer_lag_records", group=group, check=lambda v: v == 0
            )
            await wait_for_lag(
                client, "supplychain_consumer_lag_seconds", group=group, check=lambda v: v == 0
            )

        invoicing.pause()  # SIGSTOP: it neither consumes nor commits (nor measures itself)
        try:
            await fulfilment_events(4)
            records = await wait_for_lag(
                observer, "supplychain_consumer_lag_records", group=group, check=lambda v: v >= 4
            )
            first_age = await wait_for_lag(
                observer, "supplychain_consumer_lag_seconds", group=group, check=lambda v: v > 0
            )
            # no new record, yet the oldest unread one keeps ageing
            await asyncio.sleep(1.5)
            later_age = await wait_for_lag(
                observer,
                "supplychain_consumer_lag_seconds",
                group=group,
                check=lambda v: v >= first_age + 1.0,
            )
            # more records arrive: the count rises with them
            await fulfilment_events(3)
            await wait_for_lag(
                observer,
                "supplychain_consumer_lag_records",
                group=group,
                check=lambda v: v >= records + 3,
            )
            assert later_age >= first_age + 1.0
        finally:
            invoicing.resume()

        # back: it consumes what waited and the lag falls to zero again
        await wait_for_lag(
            observer, "supplychain_consumer_lag_records", group=group, check=lambda v: v == 0
        )
        await wait_for_lag(
            observer, "supplychain_consumer_lag_seconds", group=group, check=lambda v: v == 0
        )
