"""Prometheus metrics of the platform, each declared once under the project prefix."""

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

HANDOFF_BUCKETS: Final = (
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    14400,
    86400,
)

# --- contract metrics --------------------------------------------------------------------
HANDOFF_DURATION: Final = Histogram(
    "supplychain_handoff_duration_seconds",
    "Duration of a production-chain handoff stage",
    ["stage", "supplier", "requester"],
    buckets=HANDOFF_BUCKETS,
)
# Where a handoff's time goes (monitoring's time split, issue 15): the supplier's wait before
# it starts work, then its work until it ships (less the time blocked on sub-orders or paused).
HANDOFF_WAIT: Final = Histogram(
    "supplychain_handoff_wait_seconds",
    "Time an order waited before its supplier started work (not blocked, not paused)",
    ["supplier", "requester"],
    buckets=HANDOFF_BUCKETS,
)
HANDOFF_WORK: Final = Histogram(
    "supplychain_handoff_work_seconds",
    "Time a supplier worked on an order until it shipped (less blocked and paused time)",
    ["supplier", "requester"],
    buckets=HANDOFF_BUCKETS,
)
SLA_BREACHES: Final = Counter(
    "supplychain_sla_breaches", "SLA deadlines that ran out", ["stage", "supplier"]
)
SLA_BREACHES_RETRACTED: Final = Counter(
    "supplychain_sla_breaches_retracted",
    "SLA breaches retracted: a late ending event showed the stage ended by its deadline "
    "(breaches standing = supplychain_sla_breaches_total - this)",
    ["stage", "supplier"],
)
SLA_WARNINGS: Final = Counter(
    "supplychain_sla_warnings", "SLA stages past their warning threshold", ["stage", "supplier"]
)
SLA_PAUSES: Final = Counter(
    "supplychain_sla_pauses",
    "SLA clocks stopped: the supplier waits on the requester or on its sub-orders",
    ["stage", "supplier", "reason"],
)
ORDERS_PLACED: Final = Counter(
    "supplychain_orders_placed", "Internal orders placed", ["requester", "supplier"]
)
BUDGET_OVERRUNS: Final = Counter(
    "supplychain_budget_overruns",
    "Sub-orders of a production chain that took their requester over its monthly budget "
    "(recorded, never refused: a chain never stops half-way)",
    ["department"],
)
INVOICED_AMOUNT: Final = Counter(
    "supplychain_invoiced_amount", "Amount invoiced between departments", ["supplier", "requester"]
)
OUTBOX_PENDING: Final = Gauge(
    "supplychain_outbox_pending", "Outbox rows not yet published to Kafka", ["service"]
)

# --- service health ----------------------------------------------------------------------
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
# Monitoring's SLA verdicts wait until it knows a stage had not ended by its deadline (issue 22).
SLA_VERDICTS_HELD: Final = Gauge(
    "supplychain_sla_verdicts_held",
    "SLA warnings and breaches past their time that monitoring holds back until it has read the "
    "topics that could end their stages that far",
)
SLA_VERDICT_LAG_SECONDS: Final = Gauge(
    "supplychain_sla_verdict_lag_seconds",
    "How far behind the wall clock monitoring knows the topics that end SLA stages (now minus "
    "the oldest watermark of their partitions)",
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
