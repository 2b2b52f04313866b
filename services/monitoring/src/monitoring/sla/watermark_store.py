"""SQL of the verdict watermarks (table `verdict_watermarks`): how far monitoring knows each
partition of the topics that end its stages, what that means per stage, and how many alarms
are held back meanwhile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import asyncpg
from supplychain_contracts import Stage, topics

from monitoring.sla.watermarks import Partition, VerdictRule, behind_seconds

# The topics whose events could end a stage or move its clock: fulfilment's for every stage
# (its answers and deliveries, its pauses, and the endings of an order that close every stage
# it has running); the invoicing topic too for the invoicing stage (InvoiceIssued).
ENDING_TOPICS: Final[Mapping[Stage, tuple[str, ...]]] = {
    Stage.ACCEPTANCE: (topics.FULFILMENT,),
    Stage.FULFILMENT: (topics.FULFILMENT,),
    Stage.DELIVERY: (topics.FULFILMENT,),
    Stage.INVOICING: (topics.FULFILMENT, topics.INVOICING),
    Stage.END_TO_END: (topics.FULFILMENT,),
}
WATCHED_TOPICS: Final[tuple[str, ...]] = tuple(
    sorted({topic for watched in ENDING_TOPICS.values() for topic in watched})
)
_STAGE_TOPIC_PAIRS = [
    (stage.value, topic) for stage, watched in ENDING_TOPICS.items() for topic in watched
]


async def record_known_until(
    conn: asyncpg.Connection,
    known_until: Mapping[Partition, datetime | None],
    *,
    sampled_at: datetime,
) -> None:
    """Move the partitions' watermarks forward (never back: another replica may know more);
    a partition known not at all yet is stored as '-infinity', so that it holds its topic's
    verdicts back. Partitions of these topics the broker no longer has are forgotten."""
    partitions = sorted(known_until)
    await conn.execute(
        """INSERT INTO verdict_watermarks (topic, partition, known_until, sampled_at)
           SELECT topic, partition, COALESCE(known_until, '-infinity'), $4
           FROM unnest($1::text[], $2::int[], $3::timestamptz[])
                AS sampled(topic, partition, known_until)
           ON CONFLICT (topic, partition) DO UPDATE
              SET known_until = GREATEST(verdict_watermarks.known_until, EXCLUDED.known_until),
                  sampled_at = GREATEST(verdict_watermarks.sampled_at, EXCLUDED.sampled_at)""",
        [topic for topic, _ in partitions],
        [partition for _, partition in partitions],
        [known_until[p] for p in partitions],
        sampled_at,
    )
    await conn.execute(
        """DELETE FROM verdict_watermarks w
           WHERE w.topic = ANY($1::text[])
             AND (w.topic, w.partition) NOT IN
                 (SELECT * FROM unnest($1::text[], $2::int[]) AS sampled(topic, partition))""",
        [topic for topic, _ in partitions],
        [partition for _, partition in partitions],
    )


async def known_until_by_stage(conn: asyncpg.Connection) -> dict[Stage, datetime | None]:
    """How far every partition of each stage's ending topics is known (the oldest watermark of
    them); None when a topic or one of its partitions is known not at all."""
    rows = await conn.fetch(
        """WITH per_topic AS (
               SELECT topic, min(known_until) AS known_until
               FROM verdict_watermarks GROUP BY topic
           )
           SELECT ending.stage,
                  CASE WHEN bool_and(t.known_until IS NOT NULL)
                       THEN NULLIF(min(t.known_until), '-infinity') END AS known_until
           FROM unnest($1::text[], $2::text[]) AS ending(stage, topic)
           LEFT JOIN per_topic t USING (topic)
           GROUP BY ending.stage""",
        [stage for stage, _ in _STAGE_TOPIC_PAIRS],
        [topic for _, topic in _STAGE_TOPIC_PAIRS],
    )
    return {Stage(row["stage"]): row["known_until"] for row in rows}


async def verdicts_held(
    conn: asyncpg.Connection, *, cutoffs: Mapping[Stage, datetime], unheld: datetime
) -> int:
    """Alarms of running stages not raised yet whose time is past `unheld` (they would be due
    if monitoring knew everything up to now) but not past their stage's cutoff: held back
    until monitoring has read that far."""
    stages = list(cutoffs)
    count = await conn.fetchval(
        """SELECT count(*) FILTER (WHERE s.warning_raised_at IS NULL
                                     AND s.warn_at <= $3 AND s.warn_at > due.cutoff)
                + count(*) FILTER (WHERE s.breach_raised_at IS NULL
                                     AND s.deadline <= $3 AND s.deadline > due.cutoff)
           FROM stages s
           JOIN unnest($1::text[], $2::timestamptz[]) AS due(stage, cutoff)
             ON due.stage = s.stage
           WHERE s.ended_at IS NULL AND (s.paused_since IS NULL OR s.deadline IS NOT NULL)
             AND ((s.warning_raised_at IS NULL AND s.warn_at <= $3)
                  OR (s.breach_raised_at IS NULL AND s.deadline <= $3))""",
        [stage.value for stage in stages],
        [cutoffs[stage] for stage in stages],
        unheld,
    )
    return int(count or 0)


@dataclass(frozen=True)
class HeldVerdicts:
    """Alarms past their time held back because monitoring is behind, and how far behind the
    wall clock it knows the topics that end stages (None: not known at all yet)."""

    count: int
    behind_s: float | None


async def held_verdicts(
    conn: asyncpg.Connection, *, rule: VerdictRule, now: datetime
) -> HeldVerdicts:
    known = await known_until_by_stage(conn)
    count = await verdicts_held(
        conn, cutoffs=rule.cutoffs(known, now=now), unheld=rule.unheld_cutoff(now)
    )
    return HeldVerdicts(count=count, behind_s=behind_seconds(known.values(), now=now))
