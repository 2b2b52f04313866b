"""The part of the company order intake owns: legal entities, departments, the catalogue and
employees. Pure: what a company file or an administrator's definition changes, what a
definition may not break, and how a change is announced (reference events).

The company file (COMPANY_FILE, else the sample company) is loaded at every start; what it
says of an entity is kept beside the entity (`file_definition`), so a load changes only what
the file changed since the last load. An administrator's change therefore stands across
restarts until the file itself changes that entity; an entity the last file had and this one
has not is deactivated (never deleted: orders and history name it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from supplychain_contracts.company import (
    CatalogueItem,
    Company,
    CompanyProblem,
    Department,
    Employee,
    FieldProblem,
    FxRate,
    LegalEntity,
    company_problems,
)
from supplychain_contracts.company_file import CompanyFileError, company_from
from supplychain_contracts.reference import (
    ReferenceEvent,
    catalogue_item_defined,
    department_defined,
    employee_defined,
    entity_key,
    fx_rate_defined,
    legal_entity_defined,
)

from order_intake.config import OrderIntakeSettings
from order_intake.domain import MONEY_LIMIT, PRODUCER

FROM_COMPANY_FILE = "company-file"  # `changed_by` of what a company file defines
Entity = TypeVar("Entity", LegalEntity, Department, CatalogueItem, Employee, FxRate)


@dataclass(frozen=True)
class Kind(Generic[Entity]):
    """One kind of entity order intake owns."""

    name: str  # in entity keys and reference events: department
    section: str  # the company file's list of them: departments
    key_field: str  # the field that names one: code
    model: type[Entity]
    announce: Callable[..., ReferenceEvent]  # its reference event (supplychain_contracts)

    def key(self, entity: Entity) -> str:
        value: str = getattr(entity, self.key_field)
        return value

    def entity_key(self, key: str) -> str:
        return entity_key(self.name, key)

    def of(self, company: Company) -> tuple[Entity, ...]:
        entities: tuple[Entity, ...] = getattr(company, self.section)
        return entities


LEGAL_ENTITIES = Kind("legal_entity", "legal_entities", "code", LegalEntity, legal_entity_defined)
DEPARTMENTS = Kind("department", "departments", "code", Department, department_defined)
CATALOGUE = Kind("catalogue", "catalogue", "sku", CatalogueItem, catalogue_item_defined)
EMPLOYEES = Kind("employee", "employees", "employee_id", Employee, employee_defined)
# An exchange rate is named by its pair and the day it is valid from (`FxRate.key`).
FX_RATES = Kind("fx_rate", "fx_rates", "key", FxRate, fx_rate_defined)
# In the order they refer to each other: a department names its legal entity, an item its
# supplier, an employee their department (rates name currencies, not entities).
KINDS: tuple[Kind[Any], ...] = (LEGAL_ENTITIES, DEPARTMENTS, CATALOGUE, EMPLOYEES, FX_RATES)


@dataclass(frozen=True)
class Standing(Generic[Entity]):
    """An entity as order intake keeps it."""

    definition: Entity
    active: bool  # false: removed from the company, kept for the orders and history naming it
    file_definition: Entity | None  # what the last company file said of it; None: not in it
    changed_by: str  # an admin key id, or company-file
    changed_at: datetime


@dataclass(frozen=True)
class Change(Generic[Entity]):
    """A line of an entity's history: `before` and `after` are None where it did not exist or
    was inactive (created, removed, brought back)."""

    changed_by: str
    changed_at: datetime
    before: Entity | None
    after: Entity | None


@dataclass(frozen=True)
class Revision(Generic[Entity]):
    """What a load or a definition does to one entity: its new standing, and its history line
    when the entity itself changed (None: only what the file says of it changed)."""

    key: str
    standing: Standing[Entity]
    change: Change[Entity] | None


def _revision(
    key: str, previous: Standing[Entity] | None, wanted: Standing[Entity]
) -> Revision[Entity] | None:
    """The revision that makes `previous` `wanted`; None when nothing would change."""
    changed = (
        previous is None
        or previous.active != wanted.active
        or previous.definition != wanted.definition
    )
    if not changed:
        assert previous is not None
        if previous.file_definition == wanted.file_definition:
            return None
        # the file now says what the entity already is: no change of the entity, nor of who
        # made it so
        return Revision(key, replace(previous, file_definition=wanted.file_definition), None)
    change = Change(
        changed_by=wanted.changed_by,
        changed_at=wanted.changed_at,
        before=previous.definition if previous is not None and previous.active else None,
        after=wanted.definition if wanted.active else None,
    )
    return Revision(key, wanted, change)


def file_revisions(
    kind: Kind[Entity],
    existing: Mapping[str, Standing[Entity]],
    wanted: Sequence[Entity],
    *,
    now: datetime,
) -> list[Revision[Entity]]:
    """What a company file listing `wanted` changes: what the file changed since the last load
    is made so (created, changed, brought back), what the last file had and this one has not
    is deactivated. What the file says as it did before stands as it is now (an
    administrator's change stays)."""
    revisions: list[Revision[Entity] | None] = []
    in_file: set[str] = set()
    for definition in wanted:
        key = kind.key(definition)
        in_file.add(key)
        previous = existing.get(key)
        if previous is not None and previous.file_definition == definition:
            continue
        standing = Standing(definition, True, definition, FROM_COMPANY_FILE, now)
        revisions.append(_revision(key, previous, standing))
    for key, previous in existing.items():
        if key not in in_file and previous.file_definition is not None:
            removed = Standing(previous.definition, False, None, FROM_COMPANY_FILE, now)
            revisions.append(_revision(key, previous, removed))
    return [revision for revision in revisions if revision is not None]


def admin_revision(
    key: str,
    previous: Standing[Entity] | None,
    definition: Entity,
    *,
    changed_by: str,
    now: datetime,
) -> Revision[Entity] | None:
    """An administrator defines an entity (a removed one is brought back); None when it is
    already so."""
    file_definition = previous.file_definition if previous is not None else None
    return _revision(key, previous, Standing(definition, True, file_definition, changed_by, now))


def announcement(kind: Kind[Entity], standing: Standing[Entity]) -> ReferenceEvent:
    """The entity as the reference topic carries it (a fresh event id each time: republishing
    lets a broker that lost its topics catch up)."""
    return kind.announce(
        standing.definition,
        producer=PRODUCER,
        active=standing.active,
        changed_by=standing.changed_by,
    )


# --- what a definition may not break -----------------------------------------------------


INT4_MAX = 2**31 - 1
CENT = Decimal("0.01")


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, Mapping):
        for name, item in value.items():
            yield from _leaves(item, f"{path}.{name}" if path else str(name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}[{index}]")
    else:
        yield path, value


def storage_problems(
    entity: LegalEntity | Department | CatalogueItem | Employee | FxRate,
) -> list[CompanyProblem]:
    """What the contract allows but order intake could not keep or charge: text with NUL
    characters, whole numbers beyond 32 bits, a discount finer than a hundredth of a per cent,
    a transfer price beyond what money columns hold. Paths relative to the entity."""
    problems: list[CompanyProblem] = []
    for path, value in _leaves(entity.model_dump()):
        if isinstance(value, str) and "\x00" in value:
            problems.append(CompanyProblem(path, "text must not contain NUL characters"))
        elif isinstance(value, int) and not isinstance(value, bool) and value > INT4_MAX:
            problems.append(CompanyProblem(path, f"must be at most {INT4_MAX}"))
    if isinstance(entity, Department):
        discount = entity.employee_discount_pct
        if discount != discount.quantize(CENT):
            problems.append(CompanyProblem("employee_discount_pct", "at most two decimal places"))
    if isinstance(entity, CatalogueItem):
        try:
            price: Decimal | None = entity.transfer_price
        except InvalidOperation:  # too many digits to round to cents
            price = None
        if price is None or price >= MONEY_LIMIT:
            problems.append(
                CompanyProblem(
                    "transfer_price_rule",
                    f"gives a transfer price of {MONEY_LIMIT} or more: too large to charge",
                )
            )
    return problems


def _located(prefix: str, problem: CompanyProblem) -> CompanyProblem:
    path = f"{prefix}.{problem.path}" if problem.path else prefix
    return CompanyProblem(path, problem.message)


def company_storage_problems(company: Company) -> list[CompanyProblem]:
    """`storage_problems` of every entity of the company, located by its path in the file."""
    return [
        _located(f"{kind.section}[{index}]", problem)
        for kind in KINDS
        for index, entity in enumerate(kind.of(company))
        for problem in storage_problems(entity)
    ]


def owned_company(settings: OrderIntakeSettings) -> Company | None:
    """The company to load at start: COMPANY_FILE, else the sample company (None when that
    is switched off: LOAD_SAMPLE_COMPANY=false). Raises CompanyFileError naming every
    problem by its path; nothing is loaded then."""
    if not settings.company_file and not settings.load_sample_company:
        return None
    company = company_from(settings.company_file)
    problems = company_storage_problems(company)
    if problems:
        raise CompanyFileError(settings.company_file or "the sample company", problems)
    return company


def current_company(active: Mapping[str, Sequence[Any]]) -> Company:
    """The company as it stands: the active entities of each kind (by kind name)."""
    return Company.model_construct(
        name="current",
        legal_entities=tuple(active.get(LEGAL_ENTITIES.name, ())),
        departments=tuple(active.get(DEPARTMENTS.name, ())),
        catalogue=tuple(active.get(CATALOGUE.name, ())),
        employees=tuple(active.get(EMPLOYEES.name, ())),
        fx_rates=tuple(active.get(FX_RATES.name, ())),
    )


def _http_field(path: str) -> str:
    """`bill_of_materials[0].sku` as the HTTP API names fields: `bill_of_materials.0.sku`."""
    return re.sub(r"\[(\d+)\]", r".\1", path).lstrip(".")


def definition_problems(
    company: Company, kind: Kind[Entity], definition: Entity
) -> list[FieldProblem]:
    """What is wrong with `definition` standing in `company` (its active entities): what the
    company file checks (references that resolve, bills of materials without cycles, ...)
    and what order intake could not keep, each named by its field."""
    entities: list[Entity] = list(kind.of(company))
    key = kind.key(definition)
    index = next((i for i, e in enumerate(entities) if kind.key(e) == key), len(entities))
    entities[index : index + 1] = [definition]
    changed = company.model_copy(update={kind.section: tuple(entities)})
    prefix = f"{kind.section}[{index}]"
    found = [
        FieldProblem(_http_field(problem.path[len(prefix) :]) or kind.key_field, problem.message)
        for problem in company_problems(changed)
        if problem.path == prefix or problem.path.startswith((f"{prefix}.", f"{prefix}["))
    ]
    return [
        FieldProblem(_http_field(p.path), p.message) for p in storage_problems(definition)
    ] + found
