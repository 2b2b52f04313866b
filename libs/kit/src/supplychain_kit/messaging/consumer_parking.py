"""Consumed records of event types the consumer does not know: parked, never skipped.

During a rolling upgrade in which producers go first, an older consumer meets event types its
contracts do not have. It parks each such record as received (`parked_records`, in the
transaction of its batch) and its partition moves on; `supplychain_consumer_parked_total`
counts them and the gauge `supplychain_consumer_parked_records` (alert
`ConsumerOlderThanProducer`) says a consumer needs upgrading. A consumer that knows the type
applies the parked records at start, before it consumes, through its handlers and inbox, in
their order, and deletes them (`ReliableConsumer.apply_parked`); one replica at a time.

An operator sees what waits through the service's operator route
(`GET /v1/operations/consumer-parking`; `supplychain consumer parked --service S`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg
from aiokafka import ConsumerRecord

from supplychain_kit import metrics
from supplychain_kit.messaging import effects


@dataclass(frozen=True)
class ParkedRecord:
    """A record as the broker handed it over, kept until a consumer knows its type."""

    id: int
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    value: bytes
    event_type: str
    first_seen_at: datetime

    def record(self) -> ConsumerRecord[Any, Any]:
        """The record as the consumer fetched it, to be applied as then."""
        return ConsumerRecord(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            timestamp=int(self.first_seen_at.timestamp() * 1000),
            timestamp_type=0,
            key=self.key,
            value=self.value,
            checksum=None,
            serialized_key_size=len(self.key or b""),
            serialized_value_size=len(self.value),
            headers=self.headers,
        )


def _header_pairs(record: ConsumerRecord[Any, Any]) -> list[tuple[str, str]]:
    return [
        (name, value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value))
        for name, value in record.headers or ()
    ]


async def park(
    conn: asyncpg.Connection,
    *,
    service: str,
    group: str,
    records: Sequence[tuple[ConsumerRecord[Any, Any], str]],
) -> int:
    """Keep (record, event type) pairs in this transaction; a record parked before is not
    parked again. Counted once the transaction committed; returns how many are new."""
    rows = await conn.fetch(
        """INSERT INTO parked_records
               (consumer_group, topic, partition, "offset", key, headers, value, event_type)
           SELECT $1, topic, partition, "offset", key, headers::jsonb, value, event_type
           FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bytea[], $6::text[],
                       $7::bytea[], $8::text[])
                AS r(topic, partition, "offset", key, headers, value, event_type)
           ON CONFLICT DO NOTHING
           RETURNING topic, event_type""",
        group,
        [record.topic for record, _ in records],
        [record.partition for record, _ in records],
        [record.offset for record, _ in records],
        [record.key for record, _ in records],
        [json.dumps(_header_pairs(record)) for record, _ in records],
        [record.value or b"" for record, _ in records],
        [event_type for _, event_type in records],
    )
    for row in rows:
        effects.after_commit(
            metrics.CONSUMER_PARKED.labels(
                service=service, topic=row["topic"], event_type=row["event_type"]
            ).inc
        )
    return len(rows)


async def parked_of_types(
    conn: asyncpg.Connection,
    *,
    group: str,
    event_types: Collection[str],
    after_id: int = 0,
    limit: int = 100,
) -> list[ParkedRecord]:
    """The group's parked records of these types after `after_id`, in the order they came."""
    rows = await conn.fetch(
        """SELECT id, topic, partition, "offset", key, headers, value, event_type, first_seen_at
           FROM parked_records
           WHERE consumer_group = $1 AND event_type = ANY($2::text[]) AND id > $3
           ORDER BY id LIMIT $4""",
        group,
        list(event_types),
        after_id,
        limit,
    )
    return [
        ParkedRecord(
            id=row["id"],
            topic=row["topic"],
            partition=row["partition"],
            offset=row["offset"],
            key=row["key"],
            headers=tuple((name, value.encode()) for name, value in json.loads(row["headers"])),
            value=row["value"],
            event_type=row["event_type"],
            first_seen_at=row["first_seen_at"],
        )
        for row in rows
    ]


async def any_of_types(
    conn: asyncpg.Connection, *, group: str, event_types: Collection[str]
) -> bool:
    found: bool = await conn.fetchval(
        """SELECT EXISTS (SELECT 1 FROM parked_records
                          WHERE consumer_group = $1 AND event_type = ANY($2::text[]))""",
        group,
        list(event_types),
    )
    return found


async def unpark(conn: asyncpg.Connection, ids: Sequence[int]) -> None:
    """Records applied (or dead-lettered) now: they wait no more."""
    await conn.execute("DELETE FROM parked_records WHERE id = ANY($1::bigint[])", list(ids))


@contextlib.asynccontextmanager
async def one_replica_at_a_time(
    pool: asyncpg.Pool, *, group: str, wait: bool
) -> AsyncIterator[bool]:
    """Hold the group's lock on its parked records for a session: replicas starting together
    apply them one after the other (the second finds them gone). Yields False, without
    waiting, when `wait` is off and another replica holds it. Holds one pooled connection,
    so a pool of one connection (nothing else could apply meanwhile) goes unlocked: the
    inbox still applies each record once."""
    if pool.get_max_size() < 2:
        yield True
        return
    key = f"parked_records:{group}"
    async with pool.acquire() as conn:
        if wait:
            await conn.execute("SELECT pg_advisory_lock(hashtext(current_schema() || $1))", key)
        elif not await conn.fetchval(
            "SELECT pg_try_advisory_lock(hashtext(current_schema() || $1))", key
        ):
            yield False
            return
        try:
            yield True
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext(current_schema() || $1))", key)


# (service, topic, event_type) label sets of the gauge this process has set.
_GAUGED: Final[set[tuple[str, str, str]]] = set()


async def refresh_gauge(conn: asyncpg.Connection, *, service: str, group: str) -> int:
    """Set `supplychain_consumer_parked_records` from the table (shared by the replicas);
    returns the group's parked records."""
    rows = await conn.fetch(
        """SELECT topic, event_type, count(*) AS parked FROM parked_records
           WHERE consumer_group = $1 GROUP BY topic, event_type""",
        group,
    )
    now = {(service, row["topic"], row["event_type"]): row["parked"] for row in rows}
    for labels in _GAUGED - set(now):
        if labels[0] == service:
            metrics.CONSUMER_PARKED_RECORDS.labels(*labels).set(0)
    for labels, parked in now.items():
        metrics.CONSUMER_PARKED_RECORDS.labels(*labels).set(parked)
    _GAUGED.update(now)
    return sum(now.values())


async def parked_rows(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        """SELECT id, consumer_group, topic, partition, "offset", event_type, first_seen_at
           FROM parked_records ORDER BY id"""
    )
    return rows
