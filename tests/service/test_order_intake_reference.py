"""Order intake's reference data on the real PostgreSQL: the load at start (all or nothing,
idempotent, deactivates what the file dropped, republishes every entity), the admin commands
(the entity, its history line and its reference event in one transaction), and orders that
keep the prices and references in force when they were placed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import uuid4

import asyncpg
import pytest
from order_intake import commands, company_store, store
from order_intake.company import CATALOGUE, DEPARTMENTS, EMPLOYEES, LEGAL_ENTITIES
from order_intake.company_commands import InvalidDefinition, define, load_company
from order_intake.domain import (
    Limits,
    OrderRefused,
    OrderRequest,
    RequestedLine,
    request_fingerprint,
)
from supplychain_contracts.company import (
    CatalogueItem,
    Company,
    Component,
    Department,
    Employee,
    FixedPrice,
    sample_company,
)
from supplychain_contracts.company_file import CompanyFileError, load_company_file
from supplychain_contracts.reference import (
    CatalogueItemDefined,
    DepartmentDefined,
    EmployeeDefined,
    LegalEntityDefined,
)
from supplychain_kit import db
from supplychain_kit.http.auth import EVERY_ROW
from supplychain_kit.messaging import reference
from support.service import ServicePool, outbox_events

SAMPLE = sample_company()
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
ADMIN = "admin-1"
ENTITIES = (
    len(SAMPLE.legal_entities)
    + len(SAMPLE.departments)
    + len(SAMPLE.catalogue)
    + len(SAMPLE.employees)
)


def without(company: Company, *, departments: set[str], employees: set[str]) -> Company:
    return company.model_copy(
        update={
            "departments": tuple(d for d in company.departments if d.code not in departments),
            "employees": tuple(e for e in company.employees if e.employee_id not in employees),
        }
    )


@pytest.fixture
async def pool(service_pool: ServicePool) -> asyncpg.Pool:
    return await service_pool("order_intake")


async def load(pool: asyncpg.Pool, company: Company = SAMPLE, *, now: datetime = T0) -> Any:
    async with pool.acquire() as conn:
        return await load_company(conn, company, now=now)


async def events(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def history_lines(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval("SELECT count(*) FROM reference_changes")
    return count


async def place(
    pool: asyncpg.Pool, requester: str, supplier: str, sku: str, quantity: int = 1
) -> Any:
    request = OrderRequest(requester, supplier, (RequestedLine(sku, quantity),))
    async with pool.acquire() as conn:
        placement = await commands.place(
            conn,
            request,
            idempotency_key=f"key-{uuid4()}",
            fingerprint=request_fingerprint(asdict(request)),
            placed_by_key_id=f"{requester.lower()}-1",
            limits=Limits(max_lines=50, max_quantity=10_000),
        )
        return await store.get_order(conn, placement.order_id, visible=EVERY_ROW)


async def refused(pool: asyncpg.Pool, requester: str, supplier: str, sku: str) -> OrderRefused:
    with pytest.raises(OrderRefused) as refusal:
        await place(pool, requester, supplier, sku)
    return refusal.value


# --- the load at start -------------------------------------------------------------------------


async def test_loading_twice_changes_nothing_the_second_time_and_republishes(
    pool: asyncpg.Pool,
) -> None:
    first = await load(pool)
    second = await load(pool, now=LATER)

    assert (first.changed, second.changed) == (ENTITIES, 0)
    assert await history_lines(pool) == ENTITIES  # the first load's lines only
    published = await events(pool)
    assert first.published == second.published == ENTITIES == len(published) / 2
    assert len({event.event_id for event in published}) == 2 * ENTITIES  # fresh ids each time
    assert [e.entity_key for e in published[:ENTITIES]] == [
        e.entity_key for e in published[ENTITIES:]
    ]
    kinds = [type(event) for event in published[:ENTITIES]]
    assert kinds == sorted(
        kinds,
        key=[LegalEntityDefined, DepartmentDefined, CatalogueItemDefined, EmployeeDefined].index,
    )
    frame = next(e for e in published if e.entity_key == "catalogue:FRAME-CITY")
    assert isinstance(frame, CatalogueItemDefined)
    assert frame.transfer_price == Decimal("104.50")
    assert (frame.active, frame.changed_by, frame.producer) == (
        True,
        "company-file",
        "order-intake",
    )
    async with pool.acquire() as conn:
        status = await reference.status(conn)
        departments = await store.list_departments(conn)
    assert status["entities"] == {
        "catalogue": len(SAMPLE.catalogue),
        "department": len(SAMPLE.departments),
        "employee": len(SAMPLE.employees),
        "legal_entity": len(SAMPLE.legal_entities),
    }
    assert [d["code"] for d in departments] == sorted(d.code for d in SAMPLE.departments)


async def test_a_file_without_a_department_deactivates_it_and_says_so(pool: asyncpg.Pool) -> None:
    await load(pool)
    wheel = SAMPLE.item("WHEEL-28")
    assert wheel is not None
    dearer = wheel.model_copy(update={"transfer_price_rule": FixedPrice(price=Decimal("40.00"))})
    smaller = without(SAMPLE, departments={"MARKETING"}, employees={"E-1003"}).model_copy(
        update={"catalogue": tuple(dearer if i.sku == "WHEEL-28" else i for i in SAMPLE.catalogue)}
    )
    before = len(await events(pool))

    loaded = await load(pool, smaller, now=LATER)

    assert loaded.changed == 3  # MARKETING, E-1003 removed; WHEEL-28 repriced
    republished = (await events(pool))[before:]
    assert len(republished) == ENTITIES  # the removed ones too
    by_key = {event.entity_key: event for event in republished}
    assert (by_key["department:MARKETING"].active, by_key["employee:E-1003"].active) == (
        False,
        False,
    )
    assert by_key["department:MARKETING"].department.code == "MARKETING"  # named still
    assert by_key["catalogue:WHEEL-28"].transfer_price == Decimal("40.00")
    assert by_key["department:ASSEMBLY"].active
    async with pool.acquire() as conn:
        marketing = await company_store.standings(conn, DEPARTMENTS, key="MARKETING")
        history = await company_store.changes(conn, DEPARTMENTS, "MARKETING")
        departments = await store.list_departments(conn)
        status = await reference.status(conn)
    assert marketing["MARKETING"].active is False
    assert [(c.changed_by, c.before, c.after) for c in history] == [
        ("company-file", None, SAMPLE.department("MARKETING")),
        ("company-file", SAMPLE.department("MARKETING"), None),
    ]
    assert "MARKETING" not in {d["code"] for d in departments}
    assert status["entities"]["department"] == len(SAMPLE.departments) - 1
    refusal = await refused(pool, "MARKETING", "RETAIL_OPS", "DEMO-BIKE-SET")
    assert refusal.field == "requester" and "no longer" in refusal.message

    # a third load of the same smaller file changes nothing; the full file brings it back
    assert (await load(pool, smaller, now=LATER)).changed == 0
    assert (await load(pool, SAMPLE, now=LATER)).changed == 3


async def test_a_failed_load_leaves_nothing(pool: asyncpg.Pool) -> None:
    await load(pool)
    smaller = without(SAMPLE, departments={"MARKETING"}, employees={"E-1003"})
    lines, published = await history_lines(pool), len(await events(pool))

    async def load_then_fail() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await load_company(conn, smaller, now=LATER)
            await conn.execute("SELECT 1/0")

    with pytest.raises(asyncpg.PostgresError):
        await load_then_fail()
    assert await history_lines(pool) == lines
    assert len(await events(pool)) == published
    async with pool.acquire() as conn:
        assert (await company_store.standings(conn, DEPARTMENTS, key="MARKETING"))[
            "MARKETING"
        ].active


async def test_a_bad_file_is_refused_whole_with_every_problem_by_path(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    broken = SAMPLE.model_dump(mode="json")
    broken["departments"][0]["legal_entity"] = "NC-NOWHERE"
    broken["catalogue"][0]["supplier"] = "NOWHERE"
    broken["employees"][0]["yearly_allowance"] = "-1"
    path = tmp_path / "company.json"
    path.write_text(json.dumps(broken))

    with pytest.raises(CompanyFileError) as refusal:
        load_company_file(path)

    assert [problem.path for problem in refusal.value.problems] == [
        "employees[0].yearly_allowance"  # the model first; references once the model is valid
    ]
    broken["employees"][0]["yearly_allowance"] = "1.00"
    path.write_text(json.dumps(broken))
    with pytest.raises(CompanyFileError) as refusal:
        load_company_file(path)
    assert [problem.path for problem in refusal.value.problems] == [
        "departments[0].legal_entity",
        "catalogue[0].supplier",
    ]
    # nothing of it was loaded: the service refuses to start before loading anything
    async with pool.acquire() as conn:
        for kind in (LEGAL_ENTITIES, DEPARTMENTS, CATALOGUE, EMPLOYEES):
            assert await company_store.standings(conn, kind) == {}
    assert await events(pool) == []


async def test_nothing_to_load_still_republishes_what_is_stored(pool: asyncpg.Pool) -> None:
    await load(pool)
    async with pool.acquire() as conn:
        loaded = await load_company(conn, None, now=LATER)
    assert (loaded.changed, loaded.published) == (0, ENTITIES)
    assert len(await events(pool)) == 2 * ENTITIES


# --- admin commands ----------------------------------------------------------------------------

SADDLE = CatalogueItem(
    sku="SADDLE",
    name="City saddle",
    supplier="FRAMES",
    unit="piece",
    standard_cost=Decimal("10.00"),
    transfer_price_rule=FixedPrice(price=Decimal("12.00")),
    lead_time_days=2,
)


async def admin_define(pool: asyncpg.Pool, kind: Any, key: str, definition: Any) -> Any:
    async with pool.acquire() as conn:
        return await define(conn, kind, key, definition, changed_by=ADMIN, now=LATER)


async def test_an_administrator_creates_then_changes_with_history_and_events(
    pool: asyncpg.Pool,
) -> None:
    await load(pool)
    before = len(await events(pool))

    created = await admin_define(pool, CATALOGUE, "SADDLE", SADDLE)
    dearer = SADDLE.model_copy(update={"transfer_price_rule": FixedPrice(price=Decimal("15.00"))})
    changed = await admin_define(pool, CATALOGUE, "SADDLE", dearer)
    unchanged = await admin_define(pool, CATALOGUE, "SADDLE", dearer)

    assert (created.created, created.changed) == (True, True)
    assert (changed.created, changed.changed) == (False, True)
    assert (unchanged.created, unchanged.changed) == (False, False)
    async with pool.acquire() as conn:
        history = await company_store.changes(conn, CATALOGUE, "SADDLE")
        catalogue = await store.list_catalogue(conn, supplier="FRAMES")
    assert [(c.changed_by, c.changed_at, c.before, c.after) for c in history] == [
        (ADMIN, LATER, None, SADDLE),
        (ADMIN, LATER, SADDLE, dearer),
    ]
    assert {"SADDLE": Decimal("15.00")}.items() <= {
        i["sku"]: i["transfer_price"] for i in catalogue
    }.items()
    published = (await events(pool))[before:]
    assert [(type(e), e.entity_key, e.changed_by) for e in published] == [
        (CatalogueItemDefined, "catalogue:SADDLE", ADMIN)
    ] * 2
    assert [e.transfer_price for e in published] == [Decimal("12.00"), Decimal("15.00")]
    async with pool.acquire() as conn:
        status = await reference.status(conn)
    assert status["entities"]["catalogue"] == len(SAMPLE.catalogue) + 1


async def test_an_administrators_change_survives_a_restart_until_the_file_changes_it(
    pool: asyncpg.Pool,
) -> None:
    await load(pool)
    assembly = SAMPLE.department("ASSEMBLY")
    assert assembly is not None
    cheaper = assembly.model_copy(update={"monthly_budget": Decimal("1.00")})
    await admin_define(pool, DEPARTMENTS, "ASSEMBLY", cheaper)
    await admin_define(pool, CATALOGUE, "SADDLE", SADDLE)

    assert (await load(pool, now=LATER)).changed == 0  # a restart with the same file
    async with pool.acquire() as conn:
        standing = (await company_store.standings(conn, DEPARTMENTS, key="ASSEMBLY"))["ASSEMBLY"]
        saddle = (await company_store.standings(conn, CATALOGUE, key="SADDLE"))["SADDLE"]
    assert (standing.definition, standing.changed_by) == (cheaper, ADMIN)
    assert saddle.active  # no file had it: the administrator's

    edited = assembly.model_copy(update={"monthly_budget": Decimal("90000.00")})
    file = SAMPLE.model_copy(
        update={
            "departments": tuple(edited if d.code == "ASSEMBLY" else d for d in SAMPLE.departments)
        }
    )
    assert (await load(pool, file, now=LATER)).changed == 1
    async with pool.acquire() as conn:
        history = await company_store.changes(conn, DEPARTMENTS, "ASSEMBLY")
    assert [(c.changed_by, c.after) for c in history[1:]] == [
        (ADMIN, cheaper),
        ("company-file", edited),
    ]


@pytest.mark.parametrize(
    ("kind", "key", "definition", "field"),
    [
        (CATALOGUE, "SADDLE", SADDLE.model_copy(update={"supplier": "NOWHERE"}), "supplier"),
        (
            CATALOGUE,
            "SADDLE",
            SADDLE.model_copy(update={"bill_of_materials": (Component(sku="GHOST", quantity=1),)}),
            "bill_of_materials.0.sku",
        ),
        (
            # TUBE-AL-6061 goes into FRAME-CITY: made of FRAME-CITY it would contain itself
            CATALOGUE,
            "TUBE-AL-6061",
            SAMPLE.catalogue[0].model_copy(
                update={"bill_of_materials": (Component(sku="FRAME-CITY", quantity=1),)}
            ),
            "bill_of_materials",
        ),
        (CATALOGUE, "OTHER", SADDLE, "sku"),
        (
            DEPARTMENTS,
            "CYCLING",
            Department(
                code="CYCLING",
                name="Cycling club",
                legal_entity="NC-NOWHERE",
                cost_centre="CC-1",
                monthly_budget=Decimal("1.00"),
            ),
            "legal_entity",
        ),
        (
            EMPLOYEES,
            "E-2000",
            Employee(
                employee_id="E-2000",
                name="Lin",
                department="NOWHERE",
                yearly_allowance=Decimal("1.00"),
            ),
            "department",
        ),
    ],
)
async def test_a_definition_that_breaks_the_company_is_refused_and_changes_nothing(
    pool: asyncpg.Pool, kind: Any, key: str, definition: Any, field: str
) -> None:
    await load(pool)
    lines, published = await history_lines(pool), len(await events(pool))

    with pytest.raises(InvalidDefinition) as refusal:
        await admin_define(pool, kind, key, definition)

    assert [problem.field for problem in refusal.value.problems] == [field]
    assert await history_lines(pool) == lines
    assert len(await events(pool)) == published


async def test_a_removed_department_is_no_reference_and_an_administrator_brings_it_back(
    pool: asyncpg.Pool,
) -> None:
    await load(pool)
    await load(pool, without(SAMPLE, departments={"MARKETING"}, employees={"E-1003"}), now=LATER)
    e_1003 = next(e for e in SAMPLE.employees if e.employee_id == "E-1003")

    with pytest.raises(InvalidDefinition) as refusal:
        await admin_define(pool, EMPLOYEES, "E-1003", e_1003)
    assert [p.field for p in refusal.value.problems] == ["department"]

    marketing = SAMPLE.department("MARKETING")
    assert marketing is not None
    back = await admin_define(pool, DEPARTMENTS, "MARKETING", marketing)
    assert (back.created, back.changed) == (False, True)
    await admin_define(pool, EMPLOYEES, "E-1003", e_1003)
    async with pool.acquire() as conn:
        history = await company_store.changes(conn, DEPARTMENTS, "MARKETING")
    assert [(c.changed_by, c.before, c.after) for c in history[1:]] == [
        ("company-file", marketing, None),
        (ADMIN, None, marketing),
    ]
    order = await place(pool, "MARKETING", "RETAIL_OPS", "DEMO-BIKE-SET")
    assert order["status"] == "placed"


# --- orders keep what was in force when they were placed ---------------------------------------


async def test_a_price_change_applies_to_new_orders_only(pool: asyncpg.Pool) -> None:
    await load(pool)
    earlier = await place(pool, "ASSEMBLY", "FRAMES", "FRAME-CITY", quantity=2)
    frame = SAMPLE.item("FRAME-CITY")
    assert frame is not None
    await admin_define(
        pool,
        CATALOGUE,
        "FRAME-CITY",
        frame.model_copy(update={"transfer_price_rule": FixedPrice(price=Decimal("150.00"))}),
    )

    later = await place(pool, "ASSEMBLY", "FRAMES", "FRAME-CITY", quantity=2)

    async with pool.acquire() as conn:
        again = await store.get_order(conn, earlier["order_id"], visible=EVERY_ROW)
    assert again is not None
    assert (again["total"], again["lines"][0]["unit_price"]) == (
        Decimal("209.00"),
        Decimal("104.50"),
    )
    assert (later["total"], later["lines"][0]["unit_price"]) == (
        Decimal("300.00"),
        Decimal("150.00"),
    )


async def test_a_removed_item_is_refused_naming_the_line(pool: asyncpg.Pool) -> None:
    await load(pool)
    smaller = SAMPLE.model_copy(
        update={"catalogue": tuple(i for i in SAMPLE.catalogue if i.sku != "WORKSHOP-CLEAN")}
    )
    await load(pool, smaller, now=LATER)

    refusal = await refused(pool, "LOGISTICS", "FACILITIES", "WORKSHOP-CLEAN")

    assert refusal.field == "lines.0.sku"
    assert "no longer in the catalogue" in refusal.message
    async with pool.acquire() as conn:
        skus = {item["sku"] for item in await store.list_catalogue(conn)}
    assert "WORKSHOP-CLEAN" not in skus


# --- a database loaded before order intake kept definitions ----------------------------------


async def test_rows_loaded_before_the_upgrade_keep_their_prices_and_only_gain_their_rules(
    database: Any,
) -> None:
    """Migration 0004 fills the definitions of rows the old loader wrote; it knew no
    transfer-price rule, only the price, so the first load records each item's rule."""
    pool = await db.create_pool(database.new_database(), schema="order_intake", max_size=2)
    try:
        files = db.package_migrations("order_intake")
        before_0004 = [f for f in files if f.name < "0004"]
        await db.migrate(pool, schema="order_intake", files=db.kit_migrations() + before_0004)
        async with pool.acquire() as conn:
            await _load_as_before_0004(conn, SAMPLE)
        await db.migrate(pool, schema="order_intake", files=db.kit_migrations() + files)

        loaded = await load(pool)

        cost_plus = [
            i for i in SAMPLE.catalogue if not isinstance(i.transfer_price_rule, FixedPrice)
        ]
        # the legal entities are new; items with a fixed price were stored as they are
        assert loaded.changed == len(SAMPLE.legal_entities) + len(cost_plus)
        async with pool.acquire() as conn:
            frame = await company_store.changes(conn, CATALOGUE, "FRAME-CITY")
            assembly = await company_store.changes(conn, DEPARTMENTS, "ASSEMBLY")
            prices = {i["sku"]: i["transfer_price"] for i in await store.list_catalogue(conn)}
        assert assembly == []
        [rule] = frame
        assert rule.before is not None and rule.after == SAMPLE.item("FRAME-CITY")
        assert rule.before.transfer_price_rule == FixedPrice(price=Decimal("104.50"))
        assert prices == {i.sku: i.transfer_price for i in SAMPLE.catalogue}
    finally:
        await pool.close()


async def _load_as_before_0004(conn: asyncpg.Connection, company: Company) -> None:
    """What order intake's loader wrote before migration 0004 (typed columns only)."""
    await conn.executemany(
        """INSERT INTO departments (code, name, legal_entity, cost_centre, monthly_budget,
               approval_threshold, over_budget, employee_shop, employee_discount_pct)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)""",
        [
            (
                d.code,
                d.name,
                d.legal_entity,
                d.cost_centre,
                d.monthly_budget,
                d.approval_threshold,
                d.over_budget,
                d.employee_shop,
                d.employee_discount_pct,
            )
            for d in company.departments
        ],
    )
    await conn.executemany(
        """INSERT INTO catalogue (sku, name, supplier, unit, standard_cost, transfer_price,
               list_price, lead_time_days, components)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)""",
        [
            (
                i.sku,
                i.name,
                i.supplier,
                i.unit,
                i.standard_cost,
                i.transfer_price,
                i.list_price,
                i.lead_time_days,
                json.dumps([c.model_dump() for c in i.bill_of_materials]),
            )
            for i in company.catalogue
        ],
    )
    await conn.executemany(
        """INSERT INTO employees (employee_id, name, department, yearly_allowance)
           VALUES ($1, $2, $3, $4)""",
        [(e.employee_id, e.name, e.department, e.yearly_allowance) for e in company.employees],
    )
