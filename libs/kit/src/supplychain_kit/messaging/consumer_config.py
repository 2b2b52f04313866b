"""How a service's consumer group reads, batches, retries and gives up (from its settings)."""

from __future__ import annotations

from dataclasses import dataclass

from supplychain_kit.settings import ServiceSettings


@dataclass(frozen=True)
class ConsumerConfig:
    """How a service's consumer group reads, batches, retries and gives up."""

    group_id: str
    batch_size: int = 100
    max_attempts: int = 3
    retry_backoff_s: float = 0.1
    fetch_max_wait_ms: int = 100
    # the wait once no record came for `fetch_idle_after_s` (not above fetch_max_wait_ms: off)
    fetch_idle_wait_ms: int = 0
    fetch_idle_after_s: float = 2.0
    consumer_per_topic: bool = False
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3000
    # How long a record whose reference data is not known yet (NotKnownYet) is retried before
    # it is dead-lettered and the partition moves on; None retries it until the data comes.
    not_known_wait_s: float | None = None
    # How often a running consumer looks for parked records it knows (an older replica of a
    # rolling upgrade parked them after this one started); None: at start only.
    parked_check_s: float | None = 30.0

    @classmethod
    def from_settings(cls, settings: ServiceSettings) -> ConsumerConfig:
        return cls(
            group_id=settings.consumer_group or settings.service_name,
            batch_size=settings.consumer_batch_size,
            max_attempts=settings.consumer_max_attempts,
            retry_backoff_s=settings.consumer_retry_backoff_ms / 1000,
            fetch_max_wait_ms=settings.kafka_fetch_max_wait_ms,
            fetch_idle_wait_ms=settings.kafka_fetch_idle_wait_ms,
            fetch_idle_after_s=settings.kafka_fetch_idle_after_ms / 1000,
            consumer_per_topic=settings.kafka_consumer_per_topic,
            session_timeout_ms=settings.kafka_session_timeout_ms,
            heartbeat_interval_ms=settings.kafka_heartbeat_interval_ms,
            not_known_wait_s=settings.consumer_not_known_wait_seconds,
            parked_check_s=settings.consumer_parked_check_seconds,
        )
