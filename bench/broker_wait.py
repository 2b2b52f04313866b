"""Does the broker answer a waiting fetch as soon as a record arrives (Kafka's long poll)?

A consumer waits in fetches of at most `fetch_max_wait_ms`; one record is produced at a time
and the time until the consumer has it is measured, for a consumer of one partition and for
one of three topics of three partitions. The consumer reads as the services do (`getmany`:
its next fetch leaves as soon as it has drained the last one), and the records come at gaps
spread over the wait, so a fetch is already waiting at the broker when its record arrives.
If the broker answers on arrival, delivery does not depend on the wait, and consumers may
wait long (few empty fetches, little idle CPU); if not, a share of the wait is paid on every
record and it must stay short.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

WAITS_MS = (10, 100, 500, 1000)
SHORT_WAITS_MS = (10, 500)  # make test's short bench: the two ends
RECORDS = 8


async def delivery_ms(bootstrap: str, *, wait_ms: int, topics: int, partitions: int) -> float:
    """Median produce → consumed time (ms) of single records."""
    prefix = f"bench.wait.{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}.{i}" for i in range(topics)]
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, auto_offset_reset="earliest", fetch_max_wait_ms=wait_ms
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=0)
    await consumer.start()
    await producer.start()
    try:
        # assigned by hand (no group join, which costs seconds on Tansu): what is measured is
        # the fetch of several partitions, not how they were assigned
        consumer.assign([TopicPartition(n, p) for n in names for p in range(partitions)])
        await asyncio.sleep(0.5)
        times = []
        for i in range(RECORDS):
            # the fetch is waiting at the broker: the record comes a share of the wait later
            await asyncio.sleep(wait_ms / 1000 * (i % 4 + 1) / 5)
            started = time.perf_counter()
            await producer.send_and_wait(names[i % topics], b"x", partition=i % partitions)
            while not await consumer.getmany(timeout_ms=wait_ms * 2):
                pass
            times.append((time.perf_counter() - started) * 1000)
        return statistics.median(times)
    finally:
        await producer.stop()
        await consumer.stop()


async def measure(
    bootstrap: str, waits: tuple[int, ...] | None = None
) -> dict[str, dict[int, float]]:
    shapes = {"1 topic x 1 partition": (1, 1), "3 topics x 3 partitions": (3, 3)}
    found: dict[str, dict[int, float]] = {}
    for label, (topics, partitions) in shapes.items():
        found[label] = {
            wait: await delivery_ms(bootstrap, wait_ms=wait, topics=topics, partitions=partitions)
            for wait in waits or WAITS_MS
        }
        print(
            f"  {label}: "
            + ", ".join(f"wait {w} ms → {v:.0f} ms" for w, v in found[label].items()),
            flush=True,
        )
    return found


def section(found: dict[str, dict[int, float]]) -> list[str]:
    if not found:
        return []
    waits = list(next(iter(found.values())))
    lines = [
        "## Does the broker answer a waiting fetch when a record arrives?",
        "",
        "Median time from producing one record to a consumer having it, by the consumer's "
        f"`fetch_max_wait_ms` ({RECORDS} records each; see `broker_wait.py`):",
        "",
        "| consumer of | " + " | ".join(f"wait {w} ms" for w in waits) + " |",
        "|---|" + "---|" * len(waits),
    ]
    for label, values in found.items():
        lines.append(f"| {label} | " + " | ".join(f"{values[w]:.0f} ms" for w in waits) + " |")
    lines.append("")
    return lines
