"""Prometheus metrics of the platform itself, each declared once under the project prefix.

The kit keeps what every service emits through it: the outbox and its relay, the consumer,
consumer lag, HTTP and the database pool. A metric only one service emits (orders placed,
invoiced amounts, SLA verdicts, handoff times) is declared in that service's own `metrics`
module; all of them share the one registry that `exposition` serves.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.openmetrics.exposition import CONTENT_TYPE_LATEST as OPENMETRICS_TYPE
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics

OUTBOX_PENDING: Final = Gauge(
    "supplychain_outbox_pending", "Outbox rows not yet published to Kafka", ["service"]
)
OUTBOX_PUBLISHED: Final = Counter(
    "supplychain_outbox_published", "Outbox rows published to Kafka", ["service", "topic"]
)
OUTBOX_PUBLISH_ERRORS: Final = Counter(
    "supplychain_outbox_publish_errors", "Failed outbox relay batches", ["service"]
)
OUTBOX_PARKED: Final = Gauge(
    "supplychain_outbox_parked",
    "Outbox rows the broker refused for good, parked until an operator releases them",
    ["service"],
)
OUTBOX_REFUSALS: Final = Counter(
    "supplychain_outbox_refusals",
    "Outbox rows the broker refused (each attempt), by error",
    ["service", "error"],
)
CONSUMED: Final = Counter(
    "supplychain_consumer_messages",
    "Messages consumed, by outcome (applied, duplicate, ignored, parked, dead_lettered, retried)",
    ["service", "topic", "outcome"],
)
# Records of event types the consumer does not know (a producer upgraded first): parked, not
# lost, until a consumer that knows them starts (supplychain_kit.messaging.consumer_parking).
CONSUMER_PARKED: Final = Counter(
    "supplychain_consumer_parked",
    "Consumed records of an event type the consumer does not know, parked",
    ["service", "topic", "event_type"],
)
CONSUMER_PARKED_RECORDS: Final = Gauge(
    "supplychain_consumer_parked_records",
    "Parked records waiting for a consumer that knows their event type (upgrade it)",
    ["service", "topic", "event_type"],
)
CONSUME_DURATION: Final = Histogram(
    "supplychain_consumer_processing_seconds",
    "Time to apply one consumed message",
    ["service", "topic"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
# Measured from the broker by a background task (supplychain_kit.messaging.lag), for the process's own
# group and, in monitoring, every service's: they keep rising while a consumer stalls.
CONSUMER_LAG_RECORDS: Final = Gauge(
    "supplychain_consumer_lag_records",
    "Records of the partition the consumer group has not consumed (end minus committed offset)",
    ["group", "topic", "partition"],
)
CONSUMER_LAG_SECONDS: Final = Gauge(
    "supplychain_consumer_lag_seconds",
    "Age of the oldest record of the topic the consumer group has not consumed (0: caught up)",
    ["group", "topic"],
)
CONSUMER_GROUP_LAG_SECONDS: Final = Gauge(
    "supplychain_consumer_group_lag_seconds",
    "Age of the oldest record the consumer group (a service) has not consumed, of all the topics "
    "it reads (0: caught up)",
    ["group"],
)
HTTP_DURATION: Final = Histogram(
    "supplychain_http_request_duration_seconds",
    "HTTP request duration",
    ["service", "method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

HTTP_RATE_LIMITED: Final = Counter(
    "supplychain_http_rate_limited",
    "HTTP requests refused (429) by the per-key rate limit",
    ["service"],
)
DATABASE_POOL_TIMEOUTS: Final = Counter(
    "supplychain_database_pool_timeouts",
    "Requests answered 503 because no pooled connection was free in time, by pool",
    ["service", "pool"],
)


def exposition(accept_header: str | None) -> tuple[bytes, str]:
    """Metrics in OpenMetrics (with exemplars) when the scraper asks for it, else text 0.0.4."""
    if accept_header and "application/openmetrics-text" in accept_header:
        return generate_openmetrics(REGISTRY), OPENMETRICS_TYPE  # type: ignore[no-untyped-call]
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
