"""Operations events (contract, topic `supplychain.operations.redrives.v1`): what a person did to
the flow of records. They are about no order: the Kafka key names the record acted on.

A dead-letter record republished to its source topic is recorded once per dead-letter record
(compacted on Kafka: the latest redrive of each record is kept for good), so a tool can refuse
to redrive it twice by accident. Outbox rows the broker refused and the service parked, then
released by an operator, are recorded once per release.

Both are done by the service that produces the topic, on an operator's request through its
authenticated HTTP route (issue 23): the record names the operator key's owner.
"""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from supplychain_contracts.envelope import Event


def dead_letter_coordinates(topic: str, partition: int, offset: int) -> str:
    """`<dlq topic>:<partition>:<offset>`: the key of a redrive and the `redriven_from` header."""
    return f"{topic}:{partition}:{offset}"


class RecordRedriven(Event):
    """A dead-letter record was republished to the topic it came from."""

    event_type: Literal["RecordRedriven"] = "RecordRedriven"
    causation_id: UUID | None = Field(
        default=None, description="event_id of the redriven record's event, when it had one"
    )
    producer: str = Field(
        description="the service that republished it (the topic's producer; earlier redrives: "
        "the tool)",
        examples=["order-intake"],
    )
    dlq_topic: str = Field(examples=["supplychain.orders.v1.dlq"])
    dlq_partition: int = Field(ge=0)
    dlq_offset: int = Field(ge=0)
    source_topic: str = Field(
        description="where the record was consumed from and is republished to",
        examples=["supplychain.orders.v1"],
    )
    source_partition: int | None = Field(default=None, ge=0)
    source_offset: int | None = Field(default=None, ge=0)
    consumer_group: str | None = Field(
        default=None, description="the consumer group that dead-lettered it"
    )
    error: str = Field(default="", description="why it was dead-lettered (its dlq_error header)")
    redriven_partition: int = Field(ge=0, description="partition of the republished record")
    redriven_offset: int = Field(ge=0, description="offset of the republished record")
    value_replaced: bool = Field(
        description="true: a corrected value was republished instead of the record as received"
    )
    redriven_by: str = Field(
        description="who redrove it: the key_id of the operator key that asked (earlier "
        "redrives: user@host)",
        examples=["ops-alice"],
    )
    reason: str = Field(default="", max_length=500, description="why, in the operator's words")

    @property
    def dead_letter_key(self) -> str:
        return dead_letter_coordinates(self.dlq_topic, self.dlq_partition, self.dlq_offset)

    def message_key(self) -> str:
        return self.dead_letter_key


class OutboxRowsReleased(Event):
    """An operator released outbox rows the broker had refused for good and the service had
    parked: the service's relay publishes them again, in order."""

    event_type: Literal["OutboxRowsReleased"] = "OutboxRowsReleased"
    causation_id: UUID | None = Field(
        default=None, description="none: an operator's request caused it, no event"
    )
    producer: str = Field(description="the service whose outbox held them", examples=["fulfilment"])
    outbox_ids: tuple[int, ...] = Field(description="the rows released, in the order retried")
    event_ids: tuple[UUID, ...] = Field(description="the events those rows hold")
    released_by: str = Field(
        description="the key_id of the operator key that asked", examples=["ops-alice"]
    )
    reason: str = Field(default="", max_length=500, description="why, in the operator's words")

    def message_key(self) -> str:
        """One key per release (compaction keeps every release)."""
        return f"{self.producer}:outbox:{self.event_id}"
