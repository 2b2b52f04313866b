"""When an SLA verdict is known (pure): how far monitoring has read the topics that end its
stages, and the rule that makes a warning or breach due.

A verdict is final when it is raised, so it is raised only when monitoring *knows* the stage
had not ended by its time (warn_at for a warning, the deadline for a breach): its consumer
group has applied every record the broker held, on every partition of the topics that could
carry the stage's ending event, at a moment at least `relay_grace` after that time (a
producer's outbox relay publishes an event a little after it happened). How far a partition is
known (its watermark, `known_until`) comes from samples of the broker's end offsets, each taken
at a known instant, and the group's committed offsets (committed only after the effects):
the latest sample whose end offset the group has reached. When that cannot be known (the
broker is unreachable, a partition is stuck on a record), the verdict is raised anyway once
`max_lateness` has passed since its time.

Monitoring catching up after a pause, a restart or a backlog thus raises no verdict for a stage
whose ending event is in the backlog: the watermark passes the deadline only once the backlog,
and the ending event in it, has been applied.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from supplychain_contracts import Stage

# (topic, partition)
Partition = tuple[str, int]

DEFAULT_RELAY_GRACE = timedelta(seconds=5)
DEFAULT_MAX_LATENESS = timedelta(seconds=900)


@dataclass(frozen=True)
class VerdictRule:
    """When a clock's alarm is due: known by the watermarks, or too late to wait any longer."""

    relay_grace: timedelta = DEFAULT_RELAY_GRACE
    max_lateness: timedelta = DEFAULT_MAX_LATENESS

    def cutoff(self, *, known_until: datetime | None, now: datetime) -> datetime:
        """Alarms timed at or before this instant are due: their stage's ending topics are
        known `relay_grace` past them, or `max_lateness` has passed since them. `known_until`
        None: nothing is known of those topics (only the maximum lateness counts)."""
        too_late = now - self.max_lateness
        if known_until is None:
            return too_late
        return max(known_until - self.relay_grace, too_late)

    def cutoffs(
        self, known_until: Mapping[Stage, datetime | None], *, now: datetime
    ) -> dict[Stage, datetime]:
        """The cutoff of every stage, by what is known of the topics that end it."""
        return {stage: self.cutoff(known_until=known_until.get(stage), now=now) for stage in Stage}

    def wake_times(self, alarm_at: datetime) -> tuple[datetime, datetime]:
        """When an alarm timed `alarm_at` may first be due (watermarks `relay_grace` past it,
        at best now), and when it is due whatever is known (`max_lateness` past it): no
        cutoff reaches it earlier, since a watermark is never past its sample's time."""
        return alarm_at + min(self.relay_grace, self.max_lateness), alarm_at + self.max_lateness

    def unheld_cutoff(self, now: datetime) -> datetime:
        """The cutoff if monitoring knew everything up to now: alarms between a stage's cutoff
        and this one are held back because monitoring is behind."""
        return now - self.relay_grace


def behind_seconds(known_until: Iterable[datetime | None], *, now: datetime) -> float | None:
    """How far behind the wall clock the oldest watermark is (0 at best); None when one is not
    known at all."""
    known = list(known_until)
    if not known or any(at is None for at in known):
        return None
    oldest = min(at for at in known if at is not None)
    return max(0.0, (now - oldest).total_seconds())


@dataclass(frozen=True)
class OffsetSample:
    """The broker's end offsets, asked after `taken_at`: every record it held then lies below."""

    taken_at: datetime
    ends: Mapping[Partition, int]


@dataclass
class SampleWindow:
    """The recent samples of one process, and how far they say its group has read.

    Samples older than `horizon` are forgotten (a watermark older than the maximum lateness
    decides nothing), as are those older than the newest sample every partition has reached.
    Memory only: a restarted process starts again from the watermarks stored."""

    horizon: timedelta = DEFAULT_MAX_LATENESS
    samples: deque[OffsetSample] = field(default_factory=deque)

    def add(self, sample: OffsetSample) -> None:
        self.samples.append(sample)
        while self.samples and self.samples[0].taken_at < sample.taken_at - self.horizon:
            self.samples.popleft()

    def known_until(self, positions: Mapping[Partition, int]) -> dict[Partition, datetime | None]:
        """For each partition, the latest sample whose end offset the group's position (its
        committed offset) has reached; None when it has reached none of them."""
        known = {
            partition: max(
                (
                    sample.taken_at
                    for sample in self.samples
                    if partition in sample.ends and sample.ends[partition] <= position
                ),
                default=None,
            )
            for partition, position in positions.items()
        }
        reached = list(known.values())
        if reached and all(at is not None for at in reached):
            oldest = min(at for at in reached if at is not None)
            while self.samples and self.samples[0].taken_at < oldest:
                self.samples.popleft()
        return known
