"""The company's reference data: departments, catalogue, employees and SLA policies.

Every service loads the part it owns from the same versioned fixture, so the sample
company is one file and no service reads another's tables.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, model_validator

from supplychain_contracts.envelope import Contract, DepartmentCode
from supplychain_contracts.events import Money, Priority, Stage

CENT = Decimal("0.01")


class LegalEntity(Contract):
    code: str
    name: str
    currency: str = "EUR"


class Department(Contract):
    code: DepartmentCode
    name: str
    legal_entity: str
    cost_centre: str
    monthly_budget: Money
    approval_threshold: Money | None = Field(
        default=None, description="orders above this total wait for a second approval"
    )
    over_budget: Literal["refuse", "warn"] = "refuse"
    employee_shop: bool = False
    employee_discount_pct: Decimal = Decimal("0")


class CostPlus(Contract):
    kind: Literal["cost_plus"] = "cost_plus"
    markup_pct: Decimal = Field(ge=0)


class FixedPrice(Contract):
    kind: Literal["fixed"] = "fixed"
    price: Money


TransferPriceRule = Annotated[CostPlus | FixedPrice, Field(discriminator="kind")]


class Component(Contract):
    sku: str
    quantity: int = Field(gt=0)


class CatalogueItem(Contract):
    sku: str
    name: str
    supplier: DepartmentCode
    unit: str
    standard_cost: Money
    transfer_price_rule: TransferPriceRule
    list_price: Money | None = Field(
        default=None, description="price for employees, before discount"
    )
    lead_time_days: int = Field(ge=0)
    bill_of_materials: tuple[Component, ...] = ()

    @property
    def transfer_price(self) -> Decimal:
        rule = self.transfer_price_rule
        if isinstance(rule, FixedPrice):
            return rule.price
        markup = Decimal(1) + rule.markup_pct / Decimal(100)
        return (self.standard_cost * markup).quantize(CENT, rounding=ROUND_HALF_UP)


class Employee(Contract):
    employee_id: str
    name: str
    department: DepartmentCode
    yearly_allowance: Money


class BusinessCalendar(Contract):
    time_zone: str = "UTC"
    working_days: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4, 5, 6), description="0=Monday")
    start_hour: int = Field(default=0, ge=0, le=23)
    end_hour: int = Field(default=24, ge=1, le=24)


class SlaPolicy(Contract):
    supplier: DepartmentCode
    requester: DepartmentCode | None = None
    priority: Priority | None = None
    targets_seconds: dict[Stage, float]
    warning_threshold: float = Field(default=0.75, gt=0, lt=1)
    calendar: BusinessCalendar = BusinessCalendar()
    service_credit_pct: Decimal = Field(default=Decimal("5"), ge=0, le=100)


class Company(Contract):
    name: str
    currency: str = "EUR"
    legal_entities: tuple[LegalEntity, ...]
    departments: tuple[Department, ...]
    catalogue: tuple[CatalogueItem, ...]
    employees: tuple[Employee, ...] = ()
    sla_policies: tuple[SlaPolicy, ...] = ()

    @model_validator(mode="after")
    def _references_resolve(self) -> Company:
        entities = {e.code for e in self.legal_entities}
        codes = {d.code for d in self.departments}
        skus = {item.sku for item in self.catalogue}
        for department in self.departments:
            if department.legal_entity not in entities:
                raise ValueError(
                    f"{department.code}: unknown legal entity {department.legal_entity}"
                )
        for item in self.catalogue:
            if item.supplier not in codes:
                raise ValueError(f"{item.sku}: unknown supplier {item.supplier}")
            for component in item.bill_of_materials:
                if component.sku not in skus:
                    raise ValueError(f"{item.sku}: unknown component {component.sku}")
        for employee in self.employees:
            if employee.department not in codes:
                raise ValueError(f"{employee.employee_id}: unknown department")
        for policy in self.sla_policies:
            if policy.supplier not in codes:
                raise ValueError(f"SLA policy for unknown supplier {policy.supplier}")
        return self

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def item(self, sku: str) -> CatalogueItem | None:
        return next((i for i in self.catalogue if i.sku == sku), None)


@cache
def sample_company() -> Company:
    """The sample company shipped with the project (fixtures/sample_company.json)."""
    text = (
        resources.files(__package__)
        .joinpath("fixtures", "sample_company.json")
        .read_text(encoding="utf-8")
    )
    return Company.model_validate(json.loads(text))
