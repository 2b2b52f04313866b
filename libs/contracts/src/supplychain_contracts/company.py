"""The company's reference data: departments, catalogue, employees, SLA policies, calendars.

The format of a company file (`COMPANY_FILE`, JSON or YAML; the sample company is the
default). Each kind of reference data has one owner that loads its part of the file and
publishes it as reference events; the other services learn it from those events.
Cross-references are checked by `company_problems`, which names every problem by its path.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, model_validator

from supplychain_contracts.envelope import Contract, DepartmentCode
from supplychain_contracts.events import Priority, Stage

CENT = Decimal("0.01")
# Money in the company file is never negative.
Money = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=2)]
# The code of an entity (sku, employee id, calendar, policy id); admin routes take it in paths.
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]*$"
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=CODE_PATTERN)]
# Model validation context key: the file loader checks references itself, to report them all.
DEFER_REFERENCE_CHECKS = "defer_reference_checks"


# An ISO 4217 currency code.
CURRENCY_PATTERN = r"^[A-Z]{3}$"
Currency = Annotated[str, Field(min_length=3, max_length=3, pattern=CURRENCY_PATTERN)]


class LegalEntity(Contract):
    code: Code
    name: str
    currency: str = Field(
        default="EUR",
        min_length=3,
        max_length=3,
        description="the currency its departments supply and budget in",
    )


class FxRate(Contract):
    """An exchange rate: 1 `base` = `rate` `quote`, valid from `valid_from` until the next rate
    of the pair (the inverse pair is derived when only one direction is given)."""

    base: Currency
    quote: Currency
    rate: Decimal = Field(gt=0, max_digits=20, decimal_places=10)
    valid_from: date

    @property
    def key(self) -> str:
        """The rate's identity: one pair from one day (its admin path and entity key)."""
        return f"{self.base}-{self.quote}:{self.valid_from.isoformat()}"


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
    employee_discount_pct: Decimal = Field(default=Decimal("0"), ge=0, le=100)


class CostPlus(Contract):
    kind: Literal["cost_plus"] = "cost_plus"
    markup_pct: Decimal = Field(ge=0)


class FixedPrice(Contract):
    kind: Literal["fixed"] = "fixed"
    price: Money


TransferPriceRule = Annotated[CostPlus | FixedPrice, Field(discriminator="kind")]


class Component(Contract):
    sku: Code
    quantity: int = Field(gt=0)


class CatalogueItem(Contract):
    sku: Code
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
    employee_id: Code
    name: str
    department: DepartmentCode
    yearly_allowance: Money


class BusinessCalendar(Contract):
    """Working time an SLA clock counts: days and hours in a time zone, less public holidays
    (of `holidays_country`/`holidays_subdivision`, from the `holidays` package) and the
    company's own closure days."""

    time_zone: str = "UTC"
    working_days: tuple[int, ...] = Field(default=(0, 1, 2, 3, 4, 5, 6), description="0=Monday")
    start_hour: int = Field(default=0, ge=0, le=23)
    end_hour: int = Field(default=24, ge=1, le=24)
    holidays_country: str | None = Field(
        default=None, min_length=2, max_length=3, description="ISO 3166 country, e.g. DE"
    )
    holidays_subdivision: str | None = Field(
        default=None, max_length=10, description="region of the country, e.g. BE (Berlin)"
    )
    closure_days: tuple[date, ...] = Field(default=(), description="company closure days")


class NamedCalendar(BusinessCalendar):
    """A calendar SLA policies refer to by `calendar_code`."""

    code: Code
    name: str = ""


class SlaPolicy(Contract):
    id: Code | None = Field(
        default=None,
        description="the policy's identity across versions; derived from supplier, requester "
        "and priority when absent (see `policy_key`)",
    )
    supplier: DepartmentCode
    requester: DepartmentCode | None = None
    priority: Priority | None = None
    targets_seconds: dict[Stage, float]
    warning_threshold: float = Field(default=0.75, gt=0, lt=1)
    calendar: BusinessCalendar = BusinessCalendar()
    calendar_code: Code | None = Field(
        default=None, description="a named calendar of the company (replaces `calendar`)"
    )
    service_credit_pct: Decimal = Field(
        default=Decimal("0"),
        ge=0,
        le=100,
        description="credit the requester gets on a breach of a stage the supplier owes, in % "
        "of the invoice; 0 (no credit) unless set",
    )
    auto_receipt_after_seconds: float | None = Field(
        default=None,
        gt=0,
        description="business seconds (in the policy's calendar) after shipment when the "
        "supplier's fulfilment confirms a delivery the requester left unconfirmed; absent: "
        "5 working days of the calendar",
    )
    pause_when_awaiting_requester: bool = Field(
        default=False,
        description="the supplier's clocks (acceptance, fulfilment) stand still from "
        "HelpAwaitingRequester until the requester's HelpAnswered",
    )
    pause_when_blocked: bool = Field(
        default=False,
        description="the fulfilment clock stands still from ComponentsRequested until "
        "ComponentsReceived (only the upstream departments' clocks run meanwhile)",
    )

    @property
    def policy_key(self) -> str:
        if self.id is not None:
            return self.id
        parts = [self.supplier]
        if self.requester is not None:
            parts.append(f"from-{self.requester}")
        if self.priority is not None:
            parts.append(self.priority.value)
        return ":".join(parts)


class Company(Contract):
    name: str
    currency: str = "EUR"
    legal_entities: tuple[LegalEntity, ...]
    departments: tuple[Department, ...]
    catalogue: tuple[CatalogueItem, ...]
    employees: tuple[Employee, ...] = ()
    sla_policies: tuple[SlaPolicy, ...] = ()
    calendars: tuple[NamedCalendar, ...] = ()
    fx_rates: tuple[FxRate, ...] = Field(
        default=(),
        description="exchange rates between the legal entities' currencies (and the group's)",
    )

    @model_validator(mode="after")
    def _references_resolve(self, info: ValidationInfo) -> Company:
        if isinstance(info.context, Mapping) and info.context.get(DEFER_REFERENCE_CHECKS):
            return self
        problems = company_problems(self)
        if problems:
            raise ValueError("; ".join(str(problem) for problem in problems))
        return self

    def calendar_of(self, policy: SlaPolicy) -> BusinessCalendar:
        """The calendar a policy counts in: its named calendar, or its own."""
        named = next((c for c in self.calendars if c.code == policy.calendar_code), None)
        return named or policy.calendar

    def department(self, code: str) -> Department | None:
        return next((d for d in self.departments if d.code == code), None)

    def item(self, sku: str) -> CatalogueItem | None:
        return next((i for i in self.catalogue if i.sku == sku), None)


@dataclass(frozen=True)
class CompanyProblem:
    """Something wrong in a company file, located by its path (`catalogue[3].supplier`)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class FieldProblem:
    """Why one definition (a department, a policy, ... as an admin sends it) is refused,
    named by its field as the HTTP API names fields (`bill_of_materials.0.sku`)."""

    field: str
    message: str


class InvalidDefinition(Exception):
    """A definition of reference data is refused; nothing was changed."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in self.problems))


def _duplicates(path: str, codes: list[str]) -> Iterator[CompanyProblem]:
    seen: set[str] = set()
    for index, code in enumerate(codes):
        if code in seen:
            yield CompanyProblem(f"{path}[{index}]", f"duplicate code {code}")
        seen.add(code)


def _bom_cycles(company: Company) -> Iterator[CompanyProblem]:
    """A bill of materials that (through its components) contains its own item."""
    components = {item.sku: [c.sku for c in item.bill_of_materials] for item in company.catalogue}
    for index, item in enumerate(company.catalogue):
        stack: list[tuple[str, tuple[str, ...]]] = [
            (sku, (item.sku, sku)) for sku in components.get(item.sku, ())
        ]
        visited: set[str] = set()
        while stack:
            sku, trail = stack.pop()
            if sku == item.sku:
                cycle = " -> ".join(trail)
                yield CompanyProblem(
                    f"catalogue[{index}].bill_of_materials", f"cycle in bills of materials: {cycle}"
                )
                break
            if sku in visited:
                continue
            visited.add(sku)
            stack.extend((child, (*trail, child)) for child in components.get(sku, ()))


def company_problems(company: Company) -> list[CompanyProblem]:
    """Every broken reference or rule of a company, each located by its path in the file."""
    problems: list[CompanyProblem] = []
    problems += _duplicates("legal_entities", [e.code for e in company.legal_entities])
    problems += _duplicates("departments", [d.code for d in company.departments])
    problems += _duplicates("catalogue", [i.sku for i in company.catalogue])
    problems += _duplicates("employees", [e.employee_id for e in company.employees])
    problems += _duplicates("calendars", [c.code for c in company.calendars])
    problems += _duplicates("fx_rates", [r.key for r in company.fx_rates])
    for i, rate in enumerate(company.fx_rates):
        if rate.base == rate.quote:
            problems.append(
                CompanyProblem(f"fx_rates[{i}].quote", f"a rate of {rate.base} to itself")
            )
    problems += _duplicates("sla_policies", [p.policy_key for p in company.sla_policies])
    entities = {e.code for e in company.legal_entities}
    codes = {d.code for d in company.departments}
    skus = {item.sku for item in company.catalogue}
    calendars = {c.code for c in company.calendars}
    for i, department in enumerate(company.departments):
        if department.legal_entity not in entities:
            problems.append(
                CompanyProblem(
                    f"departments[{i}].legal_entity",
                    f"unknown legal entity {department.legal_entity}",
                )
            )
        if department.employee_shop and department.employee_discount_pct <= 0:
            problems.append(
                CompanyProblem(
                    f"departments[{i}].employee_discount_pct",
                    f"{department.code} is an employee shop without an employee discount",
                )
            )
    for i, item in enumerate(company.catalogue):
        if item.supplier not in codes:
            problems.append(
                CompanyProblem(f"catalogue[{i}].supplier", f"unknown supplier {item.supplier}")
            )
        for j, component in enumerate(item.bill_of_materials):
            if component.sku not in skus:
                problems.append(
                    CompanyProblem(
                        f"catalogue[{i}].bill_of_materials[{j}].sku",
                        f"unknown component {component.sku}",
                    )
                )
    problems += _bom_cycles(company)
    for i, employee in enumerate(company.employees):
        if employee.department not in codes:
            problems.append(
                CompanyProblem(
                    f"employees[{i}].department", f"unknown department {employee.department}"
                )
            )
    for i, policy in enumerate(company.sla_policies):
        if policy.supplier not in codes:
            problems.append(
                CompanyProblem(
                    f"sla_policies[{i}].supplier",
                    f"SLA policy for unknown department {policy.supplier}",
                )
            )
        if policy.requester is not None and policy.requester not in codes:
            problems.append(
                CompanyProblem(
                    f"sla_policies[{i}].requester",
                    f"SLA policy for unknown department {policy.requester}",
                )
            )
        if policy.calendar_code is not None and policy.calendar_code not in calendars:
            problems.append(
                CompanyProblem(
                    f"sla_policies[{i}].calendar_code", f"unknown calendar {policy.calendar_code}"
                )
            )
    return problems


@cache
def sample_company() -> Company:
    """The sample company shipped with the project (fixtures/sample_company.json)."""
    text = (
        resources.files(__package__)
        .joinpath("fixtures", "sample_company.json")
        .read_text(encoding="utf-8")
    )
    return Company.model_validate(json.loads(text))
