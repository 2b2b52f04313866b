"""Outbox rows the broker refuses for good: retried with backoff, then parked until released.

A refusal is about the record or its topic (too large, a topic that does not exist, not
allowed to write it), not the broker being away: an outage never parks a row, the relay
just retries the batch. While a row of a key is waiting or parked (a row in
`outbox_failures`), the relay publishes no later row of that key, so one order's events
keep their order on the topic and every other order flows on.

An operator sees parked rows and releases them (after fixing the cause: creating the topic,
raising the broker's message size limit) through the service's authenticated routes with an
operator key (`GET /v1/operations/outbox-parking`, `POST /v1/operations/outbox-parking/release`,
supplychain_kit.http.operator_api; the CLI's `supplychain outbox parked|release`), which records who
released them. Released rows are retried in id order, each with a fresh set of attempts; the
relay is woken at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaProducer, errors

# Errors that say "this record (or its topic) will never be accepted as it is".
RECORD_REFUSALS: Final[tuple[type[Exception], ...]] = (
    errors.MessageSizeTooLargeError,  # also raised by the producer before sending
    errors.RecordListTooLargeError,
    errors.RecordTooLargeError,
    errors.UnknownTopicOrPartitionError,
    errors.InvalidTopicError,
    errors.TopicAuthorizationFailedError,
    errors.CorruptRecordException,
    errors.InvalidTimestampError,
    errors.PolicyViolationError,
)

MAX_RETRY_DELAY_S: Final = 60.0


def refused(exc: BaseException) -> bool:
    """The broker (or the producer on its behalf) refuses this record for good."""
    return isinstance(exc, RECORD_REFUSALS)


async def refuse_unknown_topic(producer: AIOKafkaProducer, topic: str) -> None:
    """Refuse a record for a topic the broker does not have, at once: aiokafka would wait
    request_timeout_ms for the topic (holding up the relay's batch), and its metadata
    request lets a broker that auto-creates topics (Tansu does) make it with default
    partitioning. Topics come from the platform, never from a producer."""
    if producer.client.cluster.partitions_for_topic(topic) is not None:
        return
    cluster = await producer.client.fetch_all_metadata()
    if cluster.partitions_for_topic(topic) is None:
        raise errors.UnknownTopicOrPartitionError(f"the broker has no topic {topic}")


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:1000]


@dataclass(frozen=True)
class Refusal:
    outbox_id: int
    key: str
    topic: str
    attempts: int  # including this one
    error: str


@dataclass(frozen=True)
class RetryPolicy:
    """A refused row is parked once it was refused `park_after_attempts` times and the first
    refusal is at least `park_after_s` old: a topic missing for a moment (a broker restarted
    before its topics were made again) must not park every order's next event."""

    park_after_attempts: int = 5
    park_after_s: float = 60.0
    backoff_s: float = 1.0

    def delay(self, attempts: int) -> float:
        return min(self.backoff_s * 2.0 ** (attempts - 1), MAX_RETRY_DELAY_S)


# The relay's batch: unpublished rows in id order, leaving out every row of a key that has
# an earlier row waiting or parked, and a row whose own retry is not due or that is parked.
UNPUBLISHED_ROWS: Final = """
    SELECT o.id, o.event_id, o.topic, o.key, o.payload, o.headers,
           coalesce(f.attempts, 0) AS attempts
    FROM outbox o LEFT JOIN outbox_failures f ON f.outbox_id = o.id
    WHERE o.published_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM outbox_failures held
          WHERE held.key = o.key
            AND (held.outbox_id < o.id
                 OR (held.outbox_id = o.id
                     AND (held.parked_at IS NOT NULL OR held.retry_at > now()))))
    ORDER BY o.id LIMIT $1"""


async def record(
    conn: asyncpg.Connection, refusals: Sequence[Refusal], policy: RetryPolicy
) -> list[Refusal]:
    """Note each refusal with its next retry; returns the ones that are parked now."""
    rows = await conn.fetch(
        """INSERT INTO outbox_failures AS f
               (outbox_id, key, topic, attempts, last_error, retry_at, parked_at)
           SELECT id, key, topic, attempts, error, now() + make_interval(secs => delay),
                  CASE WHEN attempts >= $7 AND $8 <= 0 THEN now() END
           FROM unnest($1::bigint[], $2::text[], $3::text[], $4::int[], $5::text[],
                       $6::float8[]) AS r(id, key, topic, attempts, error, delay)
           ON CONFLICT (outbox_id) DO UPDATE
           SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error,
               retry_at = EXCLUDED.retry_at,
               parked_at = CASE WHEN EXCLUDED.attempts >= $7
                                 AND f.first_failed_at <= now() - make_interval(secs => $8)
                                THEN now() END
           RETURNING outbox_id, parked_at IS NOT NULL AS parked""",
        [r.outbox_id for r in refusals],
        [r.key for r in refusals],
        [r.topic for r in refusals],
        [r.attempts for r in refusals],
        [r.error for r in refusals],
        [policy.delay(r.attempts) for r in refusals],
        policy.park_after_attempts,
        float(policy.park_after_s),
    )
    parked = {row["outbox_id"] for row in rows if row["parked"]}
    return [r for r in refusals if r.outbox_id in parked]


async def forget(conn: asyncpg.Connection, outbox_ids: Sequence[int]) -> None:
    """Rows that failed before and are published now."""
    await conn.execute(
        "DELETE FROM outbox_failures WHERE outbox_id = ANY($1::bigint[])", list(outbox_ids)
    )


async def parked_count(conn: asyncpg.Connection) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM outbox_failures WHERE parked_at IS NOT NULL"
    )
    return count


async def parked_rows(conn: asyncpg.Connection) -> list[Mapping[str, Any]]:
    rows: list[Mapping[str, Any]] = await conn.fetch(
        """SELECT f.outbox_id, f.key, f.topic, o.event_type, f.attempts, f.last_error,
                  f.first_failed_at, f.parked_at
           FROM outbox_failures f JOIN outbox o ON o.id = f.outbox_id
           WHERE f.parked_at IS NOT NULL ORDER BY f.outbox_id"""
    )
    return rows


@dataclass(frozen=True)
class Released:
    outbox_id: int
    event_id: UUID


async def release(
    conn: asyncpg.Connection, *, channel: str, outbox_ids: Sequence[int] | None
) -> list[Released]:
    """Clear the park of the given rows (all when None) and wake the relay; the rows
    released, in id order (the order they are retried in)."""
    async with conn.transaction():
        released = [
            Released(row["outbox_id"], row["event_id"])
            for row in await conn.fetch(
                """WITH released AS (
                       DELETE FROM outbox_failures
                       WHERE parked_at IS NOT NULL
                         AND ($1::bigint[] IS NULL OR outbox_id = ANY($1::bigint[]))
                       RETURNING outbox_id)
                   SELECT r.outbox_id, o.event_id
                   FROM released r JOIN outbox o ON o.id = r.outbox_id
                   ORDER BY r.outbox_id""",
                None if outbox_ids is None else list(outbox_ids),
            )
        ]
        await conn.execute("SELECT pg_notify($1, 'released')", channel)
    return released
