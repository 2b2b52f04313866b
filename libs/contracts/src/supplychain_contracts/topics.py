"""Kafka topic names (contract) and their dead-letter twins."""

from typing import Final

ORDERS: Final = "supplychain.orders.v1"
FULFILMENT: Final = "supplychain.fulfilment.v1"
INVOICING: Final = "supplychain.invoicing.v1"
SLA: Final = "supplychain.sla.v1"
# Reference data (departments, catalogue, employees, SLA policies, calendars), keyed by
# entity and compacted on Kafka.
REFERENCE: Final = "supplychain.reference.v1"
# Operations: what people did to the flow of records (a dead letter redriven, keyed by the
# dead-letter record's coordinates; parked outbox rows released), compacted on Kafka; written by
# the service that produces the topic concerned, on an operator's authenticated request.
REDRIVES: Final = "supplychain.operations.redrives.v1"

ALL_TOPICS: Final[tuple[str, ...]] = (ORDERS, FULFILMENT, INVOICING, SLA, REFERENCE, REDRIVES)
# Topics whose records are the latest state per key (cleanup.policy=compact on Kafka).
COMPACTED_TOPICS: Final[tuple[str, ...]] = (REFERENCE, REDRIVES)

DLQ_SUFFIX: Final = ".dlq"


def dead_letter_topic(topic: str) -> str:
    """The topic that receives messages of `topic` that failed after retries."""
    return f"{topic}{DLQ_SUFFIX}"


def all_topics_with_dead_letters() -> tuple[str, ...]:
    return ALL_TOPICS + tuple(dead_letter_topic(t) for t in ALL_TOPICS)


# Header names carried by every record (contract).
HEADER_EVENT_TYPE: Final = "event_type"
HEADER_TRACEPARENT: Final = "traceparent"
HEADER_TRACESTATE: Final = "tracestate"
# Dead-letter records carry the failure in headers.
HEADER_DLQ_ERROR: Final = "dlq_error"
HEADER_DLQ_ERROR_TYPE: Final = "dlq_error_type"
HEADER_DLQ_SOURCE_TOPIC: Final = "dlq_source_topic"
HEADER_DLQ_SOURCE_PARTITION: Final = "dlq_source_partition"
HEADER_DLQ_SOURCE_OFFSET: Final = "dlq_source_offset"
HEADER_DLQ_CONSUMER_GROUP: Final = "dlq_consumer_group"
HEADER_DLQ_ATTEMPTS: Final = "dlq_attempts"
# A record republished from a dead-letter topic names where it was: `<dlq topic>:<p>:<offset>`.
HEADER_REDRIVEN_FROM: Final = "redriven_from"
