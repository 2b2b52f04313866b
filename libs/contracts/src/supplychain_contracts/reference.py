"""Reference events (contract, topic `supplychain.reference.v1`): the owner of each kind of
reference data publishes every change of an entity, keyed by the entity (compacted on Kafka:
the latest event per key is the entity as it stands). Others build their copies from them.

Reference events are not about an order: they carry no order ids, and their Kafka key is the
entity's `entity_key` (``department:ASSEMBLY``), not an order id.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal, TypeVar
from uuid import UUID

from pydantic import Field

from supplychain_contracts.company import (
    CatalogueItem,
    Department,
    Employee,
    FxRate,
    LegalEntity,
    NamedCalendar,
    SlaPolicy,
)
from supplychain_contracts.envelope import Event, UtcDatetime
from supplychain_contracts.events import Money


class ReferenceEvent(Event):
    causation_id: UUID | None = Field(default=None, description="the event that caused it")
    producer: str = Field(description="name of the service that owns this reference data")
    entity_key: str = Field(description="kind and code of the entity: the Kafka key")
    active: bool = Field(
        default=True,
        description="false: the entity was removed from the company (kept for history)",
    )
    changed_by: str = Field(
        default="company-file", description="who changed it: an admin key id or company-file"
    )

    def message_key(self) -> str:
        return self.entity_key


class LegalEntityDefined(ReferenceEvent):
    event_type: Literal["LegalEntityDefined"] = "LegalEntityDefined"
    legal_entity: LegalEntity


class DepartmentDefined(ReferenceEvent):
    event_type: Literal["DepartmentDefined"] = "DepartmentDefined"
    department: Department


class CatalogueItemDefined(ReferenceEvent):
    event_type: Literal["CatalogueItemDefined"] = "CatalogueItemDefined"
    item: CatalogueItem
    transfer_price: Money = Field(description="the transfer price its rule gives now")


class EmployeeDefined(ReferenceEvent):
    event_type: Literal["EmployeeDefined"] = "EmployeeDefined"
    employee: Employee


class FxRateDefined(ReferenceEvent):
    """An exchange rate of a pair from a day on (owned by order intake; one entity per pair
    and day, so the topic keeps every rate in force at some time)."""

    event_type: Literal["FxRateDefined"] = "FxRateDefined"
    fx_rate: FxRate


class BusinessCalendarDefined(ReferenceEvent):
    event_type: Literal["BusinessCalendarDefined"] = "BusinessCalendarDefined"
    calendar: NamedCalendar


class SlaPolicyDefined(ReferenceEvent):
    """A version of an SLA policy: it applies to stages that start at or after
    `effective_from`; a running clock keeps the version it started with."""

    event_type: Literal["SlaPolicyDefined"] = "SlaPolicyDefined"
    policy_id: str
    version: int = Field(ge=1)
    effective_from: UtcDatetime
    policy: SlaPolicy


def entity_key(kind: str, code: str) -> str:
    return f"{kind}:{code}"


R = TypeVar("R", bound=ReferenceEvent)


def _defined(
    model: type[R],
    kind: str,
    code: str,
    *,
    producer: str,
    meta: dict[str, object],
    **fields: object,
) -> R:
    """The reference event of one entity; `meta` (active, changed_by, ...) goes into it too."""
    return model.model_validate(
        {**fields, "producer": producer, "entity_key": entity_key(kind, code), **meta}
    )


def legal_entity_defined(
    entity: LegalEntity, *, producer: str, **meta: object
) -> LegalEntityDefined:
    return _defined(
        LegalEntityDefined,
        "legal_entity",
        entity.code,
        producer=producer,
        meta=meta,
        legal_entity=entity,
    )


def department_defined(
    department: Department, *, producer: str, **meta: object
) -> DepartmentDefined:
    return _defined(
        DepartmentDefined,
        "department",
        department.code,
        producer=producer,
        meta=meta,
        department=department,
    )


def catalogue_item_defined(
    item: CatalogueItem, *, producer: str, **meta: object
) -> CatalogueItemDefined:
    return _defined(
        CatalogueItemDefined,
        "catalogue",
        item.sku,
        producer=producer,
        meta=meta,
        item=item,
        transfer_price=Decimal(item.transfer_price),
    )


def employee_defined(employee: Employee, *, producer: str, **meta: object) -> EmployeeDefined:
    return _defined(
        EmployeeDefined,
        "employee",
        employee.employee_id,
        producer=producer,
        meta=meta,
        employee=employee,
    )


def fx_rate_defined(rate: FxRate, *, producer: str, **meta: object) -> FxRateDefined:
    return _defined(FxRateDefined, "fx_rate", rate.key, producer=producer, meta=meta, fx_rate=rate)
