"""Metrics monitoring emits: handoff durations and their time split, SLA verdicts.

Declared here, by the one service that emits them, under the project prefix; the platform's
own metrics (outbox, consumer, lag, HTTP) are the kit's (supplychain_kit.metrics). Names
and labels are what the dashboards and alert rules read: do not rename them.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter, Gauge, Histogram

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

HANDOFF_DURATION: Final = Histogram(
    "supplychain_handoff_duration_seconds",
    "Duration of a production-chain handoff stage",
    ["stage", "supplier", "requester"],
    buckets=HANDOFF_BUCKETS,
)
# Where a handoff's time goes (the time split): the supplier's wait before
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
# SLA verdicts wait until monitoring knows a stage had not ended by its deadline.
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
