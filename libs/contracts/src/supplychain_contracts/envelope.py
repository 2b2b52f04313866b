"""The event envelope every event carries (contract)."""

from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from uuid import UUID, uuid4

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _as_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
# A department's code: the one rule for every field, path and query parameter naming one.
DEPARTMENT_CODE_PATTERN = r"^[A-Z][A-Z0-9_]*$"
DepartmentCode = Annotated[
    str,
    Field(min_length=2, max_length=32, pattern=DEPARTMENT_CODE_PATTERN, examples=["ASSEMBLY"]),
]


def utc_now() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """Base of every contract model: immutable, strict about unknown fields on output."""

    model_config = ConfigDict(frozen=True, extra="ignore")


class Event(Contract):
    """What every record on a contract topic carries first: its identity, type and time."""

    event_id: UUID = Field(default_factory=uuid4)
    event_type: str
    schema_version: int = 1
    occurred_at: UtcDatetime = Field(default_factory=utc_now)

    def message_key(self) -> str:
        """The Kafka key the event is published with (per-key order is what Kafka keeps)."""
        raise NotImplementedError


class Envelope(Event):
    """Fields every order event carries, in this order, before its typed fields."""

    order_id: UUID
    root_order_id: UUID
    causation_id: UUID | None = Field(
        default=None, description="event_id of the event that caused this one"
    )
    producer: str = Field(description="name of the service that produced the event")

    def message_key(self) -> str:
        return str(self.order_id)


E = TypeVar("E", bound=Envelope)

# What a follow-up event carries over from its cause when both declare the field: the order
# it is about, the chain it belongs to and, for order events, who supplies and who asked.
CARRIED_FROM_CAUSE: tuple[str, ...] = (
    "order_id",
    "root_order_id",
    "supplier",
    "requester",
    "employee_id",
)


def follow_up(cause: Envelope, model: type[E], *, producer: str, **fields: Any) -> E:
    """The event `model` caused by `cause`: the same order and parties, `causation_id` set to
    the cause's id, produced by `producer`. `fields` adds the event's own fields and may
    override what is carried (a sub-order's event naming its parent, say)."""
    carried = {
        name: getattr(cause, name)
        for name in CARRIED_FROM_CAUSE
        if name in model.model_fields and name in type(cause).model_fields
    }
    return model(**{**carried, "causation_id": cause.event_id, "producer": producer, **fields})
