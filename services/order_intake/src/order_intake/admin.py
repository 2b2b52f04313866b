"""Admin API of order intake: the departments, catalogue, employees and exchange rates it owns
(admin keys only; a department key gets 403 on every route).

PUT defines one, its body as in the company file: 201 when it is new, 200 when it changed (or
already was so). GET lists them all, removed ones included (`active` false), or shows one with
its change history (who, when, before, after). A route translates: parse, call a command
(company_commands.py), answer its result or refusal.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Path, Response
from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts.company import (
    CODE_PATTERN,
    CURRENCY_PATTERN,
    CatalogueItem,
    Department,
    Employee,
    FieldProblem,
    FxRate,
    InvalidDefinition,
)
from supplychain_kit.http.app import Db
from supplychain_kit.http.auth import Admin
from supplychain_kit.http.params import decimal_body_schema, department_code_path
from supplychain_kit.http.problems import Problem, refused_definitions
from supplychain_kit.http.strict_body import refuse_unknown_fields

from order_intake import company_commands, company_store
from order_intake.company import (
    CATALOGUE,
    DEPARTMENTS,
    EMPLOYEES,
    FX_RATES,
    Entity,
    Kind,
    Standing,
)
from order_intake.models import UNAUTHORIZED, Responses, problem

router = APIRouter(prefix="/v1/admin", tags=["admin"])

DepartmentCode = Annotated[
    str,
    department_code_path("the department's code", example="ASSEMBLY"),
]
Sku = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="the catalogue item's sku",
        examples=["FRAME-CITY"],
    ),
]
EmployeeId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=CODE_PATTERN,
        description="the employee's id",
        examples=["E-1001"],
    ),
]
ADMIN_ONLY: Responses = {
    **UNAUTHORIZED,
    403: problem("a department key: admin routes need an admin key"),
}
NOT_FOUND: Responses = {404: problem("no such entity")}
INVALID_PATH: Responses = {422: problem("the path is malformed; `errors` names the field")}
REFUSED: Responses = {
    422: problem(
        "the definition is malformed, has a key the definition does not know (named with the "
        "closest known key), names another key than the path, refers to an entity the "
        "company does not have (or no longer has), makes a bill of materials a cycle, or "
        "holds a value order intake cannot keep; `errors` names each field"
    )
}


class Audited(BaseModel):
    active: bool = Field(
        description="false: removed from the company (kept: orders and history name it)"
    )
    changed_by: str = Field(
        description="who changed it last: an admin key id, or company-file", examples=["admin-1"]
    )
    changed_at: datetime = Field(description="when it was changed last")


E = TypeVar("E", Department, CatalogueItem, Employee, FxRate)


class ChangeOut(BaseModel, Generic[E]):
    """A change of an entity: before and after are null where it did not exist or was
    removed (created, removed, brought back)."""

    changed_by: str = Field(description="an admin key id, or company-file")
    changed_at: datetime = Field(description="when")
    before: E | None = Field(description="the entity before the change")
    after: E | None = Field(description="the entity after the change")


class DepartmentChange(ChangeOut[Department]):
    """A change of a department."""


class CatalogueItemChange(ChangeOut[CatalogueItem]):
    """A change of a catalogue item."""


class EmployeeChange(ChangeOut[Employee]):
    """A change of an employee."""


class DepartmentStanding(Audited, Department):
    """A department as order intake keeps it."""


class DepartmentHistory(DepartmentStanding):
    """A department with its change history, oldest first."""

    history: list[DepartmentChange] = Field(description="every change, oldest first")


class CatalogueItemStanding(Audited, CatalogueItem):
    """A catalogue item as order intake keeps it."""


class CatalogueItemHistory(CatalogueItemStanding):
    """A catalogue item with its change history, oldest first."""

    history: list[CatalogueItemChange] = Field(description="every change, oldest first")


class EmployeeStanding(Audited, Employee):
    """An employee as order intake keeps them."""


class EmployeeHistory(EmployeeStanding):
    """An employee with their change history, oldest first."""

    history: list[EmployeeChange] = Field(description="every change, oldest first")


# A body key the definition does not know is refused (422), named with the closest known key;
# the read-only keys a GET answers are not (what a GET gave may be PUT back as it is).
KnownDepartmentKeys = Annotated[
    None, refuse_unknown_fields(Department, read_back=DepartmentHistory)
]
KnownItemKeys = Annotated[
    None, refuse_unknown_fields(CatalogueItem, read_back=CatalogueItemHistory)
]
KnownEmployeeKeys = Annotated[None, refuse_unknown_fields(Employee, read_back=EmployeeHistory)]


S = TypeVar("S", bound=Audited)


def _fields(standing: Standing[Any]) -> dict[str, Any]:
    return {
        **standing.definition.model_dump(),
        "active": standing.active,
        "changed_by": standing.changed_by,
        "changed_at": standing.changed_at,
    }


async def _all(db: Db, kind: Kind[Entity], model: type[S]) -> list[S]:
    standings = await company_store.standings(db, kind)
    return [model.model_validate(_fields(standing)) for standing in standings.values()]


async def _history(db: Db, kind: Kind[Entity], key: str, model: type[S]) -> S:
    standing = (await company_store.standings(db, kind, key=key)).get(key)
    if standing is None:
        raise Problem(
            404,
            f"no {kind.name.replace('_', ' ')} {key}",
            errors=[{"field": kind.key_field, "message": "not known"}],
        )
    history = await company_store.changes(db, kind, key)
    return model.model_validate({**_fields(standing), "history": [vars(c) for c in history]})


async def _define(
    db: Db,
    kind: Kind[Entity],
    key: str,
    definition: Entity,
    *,
    admin: Admin,
    response: Response,
    model: type[S],
) -> S:
    with refused_definitions():
        defined = await company_commands.define(db, kind, key, definition, changed_by=admin.key_id)
    response.status_code = 201 if defined.created else 200
    return await _history(db, kind, key, model)


# --- departments -------------------------------------------------------------------------


@router.put(
    "/departments/{code}",
    response_model=DepartmentHistory,
    summary="Define a department",
    responses={
        201: {"model": DepartmentHistory, "description": "the department is new"},
        200: {"model": DepartmentHistory, "description": "changed, or already so"},
        **ADMIN_ONLY,
        **REFUSED,
    },
)
async def define_department(
    code: DepartmentCode,
    body: Department,
    db: Db,
    admin: Admin,
    _known: KnownDepartmentKeys,
    response: Response,
) -> DepartmentHistory:
    """Create or change a department (cost centre, budget, approval threshold, over-budget
    rule, employee shop), or bring back a removed one; published as DepartmentDefined. Orders
    placed before keep the budget decision they were placed with."""
    return await _define(
        db, DEPARTMENTS, code, body, admin=admin, response=response, model=DepartmentHistory
    )


@router.get(
    "/departments",
    response_model=list[DepartmentStanding],
    summary="List every department",
    responses=ADMIN_ONLY,
)
async def list_departments(db: Db, admin: Admin) -> list[DepartmentStanding]:
    """Every department, removed ones included (`active` false)."""
    return await _all(db, DEPARTMENTS, DepartmentStanding)


@router.get(
    "/departments/{code}",
    response_model=DepartmentHistory,
    summary="Read a department and its history",
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID_PATH},
)
async def department_history(code: DepartmentCode, db: Db, admin: Admin) -> DepartmentHistory:
    """A department with its change history (who, when, before, after)."""
    return await _history(db, DEPARTMENTS, code, DepartmentHistory)


# --- catalogue ---------------------------------------------------------------------------


@router.put(
    "/catalogue/{sku}",
    response_model=CatalogueItemHistory,
    summary="Define a catalogue item",
    responses={
        201: {"model": CatalogueItemHistory, "description": "the item is new"},
        200: {"model": CatalogueItemHistory, "description": "changed, or already so"},
        **ADMIN_ONLY,
        **REFUSED,
    },
)
async def define_catalogue_item(
    sku: Sku,
    body: CatalogueItem,
    db: Db,
    admin: Admin,
    _known: KnownItemKeys,
    response: Response,
) -> CatalogueItemHistory:
    """Create or change a catalogue item (supplier, transfer-price rule, list price, lead
    time, bill of materials), or bring back a removed one; published as CatalogueItemDefined.
    A new price applies to orders placed from now on: placed orders keep theirs."""
    return await _define(
        db, CATALOGUE, sku, body, admin=admin, response=response, model=CatalogueItemHistory
    )


@router.get(
    "/catalogue",
    response_model=list[CatalogueItemStanding],
    summary="List every catalogue item",
    responses=ADMIN_ONLY,
)
async def list_catalogue(db: Db, admin: Admin) -> list[CatalogueItemStanding]:
    """Every catalogue item, removed ones included (`active` false)."""
    return await _all(db, CATALOGUE, CatalogueItemStanding)


@router.get(
    "/catalogue/{sku}",
    response_model=CatalogueItemHistory,
    summary="Read a catalogue item and its history",
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID_PATH},
)
async def catalogue_item_history(sku: Sku, db: Db, admin: Admin) -> CatalogueItemHistory:
    """A catalogue item with its change history (who, when, before, after)."""
    return await _history(db, CATALOGUE, sku, CatalogueItemHistory)


# --- employees ---------------------------------------------------------------------------


@router.put(
    "/employees/{employee_id}",
    response_model=EmployeeHistory,
    summary="Define an employee",
    responses={
        201: {"model": EmployeeHistory, "description": "the employee is new"},
        200: {"model": EmployeeHistory, "description": "changed, or already so"},
        **ADMIN_ONLY,
        **REFUSED,
    },
)
async def define_employee(
    employee_id: EmployeeId,
    body: Employee,
    db: Db,
    admin: Admin,
    _known: KnownEmployeeKeys,
    response: Response,
) -> EmployeeHistory:
    """Create or change an employee (department, yearly allowance), or bring back a removed
    one; published as EmployeeDefined."""
    return await _define(
        db, EMPLOYEES, employee_id, body, admin=admin, response=response, model=EmployeeHistory
    )


@router.get(
    "/employees",
    response_model=list[EmployeeStanding],
    summary="List every employee",
    responses=ADMIN_ONLY,
)
async def list_employees(db: Db, admin: Admin) -> list[EmployeeStanding]:
    """Every employee, removed ones included (`active` false)."""
    return await _all(db, EMPLOYEES, EmployeeStanding)


@router.get(
    "/employees/{employee_id}",
    response_model=EmployeeHistory,
    summary="Read an employee and their history",
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID_PATH},
)
async def employee_history(employee_id: EmployeeId, db: Db, admin: Admin) -> EmployeeHistory:
    """An employee with their change history (who, when, before, after)."""
    return await _history(db, EMPLOYEES, employee_id, EmployeeHistory)


# --- exchange rates ------------------------------------------------------------------------

CurrencyCode = Annotated[
    str,
    Path(
        min_length=3,
        max_length=3,
        pattern=CURRENCY_PATTERN,
        description="ISO 4217 currency code",
        examples=["USD"],
    ),
]


class FxRateBody(BaseModel):
    """An exchange rate of the pair in the path: 1 base = rate quote from `valid_from` on
    (until the pair's next rate; the inverse pair is derived)."""

    model_config = ConfigDict(extra="forbid")
    rate: Annotated[
        Decimal,
        Field(gt=0, max_digits=20, decimal_places=10),
        decimal_body_schema("1 base buys this much quote", example="0.9200"),
    ]
    valid_from: date = Field(description="the first day it is valid", examples=["2026-01-01"])


KnownFxRateKeys = Annotated[None, refuse_unknown_fields(FxRateBody)]


class FxRateChange(ChangeOut[FxRate]):
    """A change of an exchange rate."""


class FxRateStanding(Audited, FxRate):
    """An exchange rate as order intake keeps it."""


class FxRatePairHistory(BaseModel):
    """The rates of a pair, oldest first, with their change history."""

    base: str = Field(examples=["USD"])
    quote: str = Field(examples=["EUR"])
    rates: list[FxRateStanding] = Field(description="every rate of the pair, by valid_from")
    history: list[FxRateChange] = Field(description="every change of its rates, oldest first")


async def _pair_history(db: Db, base: str, quote: str) -> FxRatePairHistory:
    standings = [
        s
        for s in (await company_store.standings(db, FX_RATES)).values()
        if (s.definition.base, s.definition.quote) == (base, quote)
    ]
    if not standings:
        raise Problem(
            404,
            f"no exchange rate {base}->{quote}",
            errors=[{"field": "quote", "message": "no rate of this pair"}],
        )
    history = await company_store.changes(db, FX_RATES, f"{base}-{quote}:", prefix=True)
    return FxRatePairHistory(
        base=base,
        quote=quote,
        rates=[
            FxRateStanding.model_validate(_fields(s))
            for s in sorted(standings, key=lambda s: s.definition.valid_from)
        ],
        history=[FxRateChange.model_validate(vars(c)) for c in history],
    )


@router.put(
    "/fx-rates/{base}/{quote}",
    response_model=FxRatePairHistory,
    summary="Define an exchange rate",
    responses={
        201: {"model": FxRatePairHistory, "description": "a rate of a new pair or day"},
        200: {"model": FxRatePairHistory, "description": "changed, or already so"},
        **ADMIN_ONLY,
        **REFUSED,
    },
)
async def define_fx_rate(
    base: CurrencyCode,
    quote: CurrencyCode,
    body: FxRateBody,
    db: Db,
    admin: Admin,
    _known: KnownFxRateKeys,
    response: Response,
) -> FxRatePairHistory:
    """Define the rate of a pair valid from a day (1 base = rate quote); published as
    FxRateDefined. Orders placed before keep the rate they were placed with."""
    with refused_definitions():
        rate = _fx_rate(base, quote, body)
        defined = await company_commands.define(
            db, FX_RATES, rate.key, rate, changed_by=admin.key_id
        )
    response.status_code = 201 if defined.created else 200
    return await _pair_history(db, base, quote)


def _fx_rate(base: str, quote: str, body: FxRateBody) -> FxRate:
    if base == quote:
        raise InvalidDefinition([FieldProblem("quote", f"a rate of {base} to itself")])
    return FxRate(base=base, quote=quote, rate=body.rate, valid_from=body.valid_from)


@router.get(
    "/fx-rates",
    response_model=list[FxRateStanding],
    summary="List every exchange rate",
    responses=ADMIN_ONLY,
)
async def list_fx_rates(db: Db, admin: Admin) -> list[FxRateStanding]:
    """Every exchange rate, removed ones included (`active` false)."""
    return await _all(db, FX_RATES, FxRateStanding)


@router.get(
    "/fx-rates/{base}/{quote}",
    response_model=FxRatePairHistory,
    summary="Read the rates of a pair and their history",
    responses={**ADMIN_ONLY, **NOT_FOUND, **INVALID_PATH},
)
async def fx_rate_history(
    base: CurrencyCode, quote: CurrencyCode, db: Db, admin: Admin
) -> FxRatePairHistory:
    """Every rate of the pair (by valid_from) with its change history (who, when, before,
    after)."""
    return await _pair_history(db, base, quote)
