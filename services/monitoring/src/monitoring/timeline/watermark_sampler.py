"""The background job that knows how far monitoring has read the topics that end its stages.

Every MONITORING_SLA_WATERMARK_INTERVAL_MS it samples the broker's end offsets of every
partition of those topics and monitoring's committed offsets (committed only once the effects
committed), keeps the recent samples in memory (`sla.watermarks.SampleWindow`) and stores each
partition's watermark: the time of the latest sample whose end offset the group has reached.
Every replica samples and stores (a watermark only moves forward); when one moved, the clock
scan of this process is woken (`clocks.ClockWakes`). While the broker cannot be reached the watermarks
stand still, and the verdicts wait (at most their maximum lateness).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from aiokafka import TopicPartition
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.messaging.lag import LagProbe, started_probe
from supplychain_kit.runtime import BackgroundJob, ServiceRuntime

from monitoring.config import MonitoringSettings
from monitoring.sla import watermark_store
from monitoring.sla.watermarks import OffsetSample, Partition, SampleWindow

log = logging.getLogger(__name__)


def watermark_sampler_job(moved: Callable[[], None]) -> BackgroundJob[MonitoringSettings]:
    """The sampler job; calls `moved` when a watermark moved."""

    async def sample_watermarks(runtime: ServiceRuntime[MonitoringSettings]) -> None:
        settings = runtime.settings
        group = ConsumerConfig.from_settings(settings).group_id
        window = SampleWindow(horizon=settings.verdict_rule().max_lateness)
        interval = settings.sla_watermark_interval_ms / 1000
        probe = await started_probe(settings, client_id=f"{settings.service_name}-verdicts")
        try:
            known: dict[Partition, datetime | None] = {}
            while True:
                try:
                    now_known = await _sample(runtime, probe, window, group)
                except Exception as exc:  # the broker or the database is down: try again
                    log.warning("verdict watermarks not sampled: %r", exc)
                else:
                    if now_known != known:
                        known = now_known
                        moved()
                await asyncio.sleep(interval)
        finally:
            await probe.stop()

    return sample_watermarks


async def _sample(
    runtime: ServiceRuntime[MonitoringSettings],
    probe: LagProbe,
    window: SampleWindow,
    group: str,
) -> dict[Partition, datetime | None]:
    """One sample: added to the window, the watermarks it gives stored."""
    offsets = await probe.group_offsets(group, watermark_store.WATCHED_TOPICS)
    window.add(OffsetSample(taken_at=offsets.asked_at, ends=_by_partition(offsets.ends)))
    known = window.known_until(_by_partition(offsets.positions))
    async with runtime.pool.acquire() as conn:
        await watermark_store.record_known_until(conn, known, sampled_at=datetime.now(UTC))
    return known


def _by_partition(offsets: Mapping[TopicPartition, int]) -> dict[Partition, int]:
    return {(tp.topic, tp.partition): offset for tp, offset in offsets.items()}
