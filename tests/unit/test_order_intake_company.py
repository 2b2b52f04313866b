"""Order intake's reference data, pure: what a company file or an administrator changes, what a
definition may not break, what a company file may not hold."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from order_intake.company import (
    CATALOGUE,
    DEPARTMENTS,
    EMPLOYEES,
    FROM_COMPANY_FILE,
    FieldProblem,
    Standing,
    admin_revision,
    announcement,
    company_storage_problems,
    definition_problems,
    file_revisions,
    owned_company,
    storage_problems,
)
from order_intake.config import OrderIntakeSettings
from supplychain_contracts.company import (
    CatalogueItem,
    Component,
    Department,
    Employee,
    sample_company,
)
from supplychain_contracts.company_file import CompanyFileError

BRIGHTLOAF = Path(__file__).parents[2] / "examples" / "company" / "brightloaf.yaml"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(hours=1)
FRAMES = Department(
    code="FRAMES",
    name="Frame shop",
    legal_entity="NC-MFG",
    cost_centre="CC-1300",
    monthly_budget=Decimal("40000.00"),
)
PAINT = Department(
    code="PAINTSHOP",
    name="Paint shop",
    legal_entity="NC-MFG",
    cost_centre="CC-1200",
    monthly_budget=Decimal("15000.00"),
)


def loaded(definition: Department) -> Standing[Department]:
    """As a load of a file with `definition` left it."""
    return Standing(definition, True, definition, FROM_COMPANY_FILE, T0)


# --- the company file ----------------------------------------------------------------------


def test_a_first_load_creates_every_entity_with_its_history_line() -> None:
    revisions = file_revisions(DEPARTMENTS, {}, (FRAMES, PAINT), now=T0)

    assert [r.key for r in revisions] == ["FRAMES", "PAINTSHOP"]
    first = revisions[0]
    assert first.standing == Standing(FRAMES, True, FRAMES, FROM_COMPANY_FILE, T0)
    assert first.change is not None
    assert (first.change.before, first.change.after) == (None, FRAMES)
    assert first.change.changed_by == "company-file"


def test_the_same_file_again_changes_nothing() -> None:
    existing = {"FRAMES": loaded(FRAMES), "PAINTSHOP": loaded(PAINT)}
    assert file_revisions(DEPARTMENTS, existing, (FRAMES, PAINT), now=LATER) == []


def test_what_the_file_changed_is_changed_and_what_it_dropped_is_deactivated() -> None:
    richer = FRAMES.model_copy(update={"monthly_budget": Decimal("50000.00")})
    existing = {"FRAMES": loaded(FRAMES), "PAINTSHOP": loaded(PAINT)}

    changed, removed = file_revisions(DEPARTMENTS, existing, (richer,), now=LATER)

    assert changed.change is not None
    assert (changed.change.before, changed.change.after) == (FRAMES, richer)
    assert changed.standing.file_definition == richer
    assert removed.key == "PAINTSHOP"
    assert removed.standing.active is False
    assert removed.standing.definition == PAINT  # kept: orders and history name it
    assert removed.standing.file_definition is None
    assert removed.change is not None
    assert (removed.change.before, removed.change.after) == (PAINT, None)
    # removed once is removed: a later file without it changes nothing more
    again = {"PAINTSHOP": removed.standing}
    assert file_revisions(DEPARTMENTS, again, (), now=LATER) == []


def test_a_dropped_entity_back_in_the_file_is_brought_back() -> None:
    removed = Standing(PAINT, False, None, FROM_COMPANY_FILE, T0)
    [back] = file_revisions(DEPARTMENTS, {"PAINTSHOP": removed}, (PAINT,), now=LATER)

    assert back.standing.active is True
    assert back.change is not None
    assert (back.change.before, back.change.after) == (None, PAINT)


def test_an_administrators_change_stands_until_the_file_changes_that_entity() -> None:
    by_admin = FRAMES.model_copy(update={"cost_centre": "CC-9999"})
    existing = {"FRAMES": Standing(by_admin, True, FRAMES, "admin-1", T0)}
    created_by_admin = {"PAINTSHOP": Standing(PAINT, True, None, "admin-1", T0)}

    assert file_revisions(DEPARTMENTS, existing, (FRAMES,), now=LATER) == []
    # an entity no file ever had is the administrator's: a file without it leaves it alone
    assert file_revisions(DEPARTMENTS, {**existing, **created_by_admin}, (FRAMES,), now=LATER) == []

    edited = FRAMES.model_copy(update={"cost_centre": "CC-1301"})
    [revision] = file_revisions(DEPARTMENTS, existing, (edited,), now=LATER)
    assert revision.standing.definition == edited
    assert revision.change is not None and revision.change.before == by_admin


def test_a_file_that_catches_up_with_an_administrator_records_no_change() -> None:
    by_admin = FRAMES.model_copy(update={"cost_centre": "CC-9999"})
    existing = {"FRAMES": Standing(by_admin, True, FRAMES, "admin-1", T0)}

    [revision] = file_revisions(DEPARTMENTS, existing, (by_admin,), now=LATER)

    assert revision.change is None
    assert revision.standing == Standing(by_admin, True, by_admin, "admin-1", T0)


# --- an administrator's definition ---------------------------------------------------------


def test_an_administrator_creates_changes_and_brings_back() -> None:
    created = admin_revision("FRAMES", None, FRAMES, changed_by="admin-1", now=T0)
    assert created is not None and created.change is not None
    assert (created.change.before, created.change.after, created.change.changed_by) == (
        None,
        FRAMES,
        "admin-1",
    )
    assert created.standing.file_definition is None

    assert admin_revision("FRAMES", loaded(FRAMES), FRAMES, changed_by="admin-1", now=T0) is None

    richer = FRAMES.model_copy(update={"monthly_budget": Decimal("1.00")})
    changed = admin_revision("FRAMES", loaded(FRAMES), richer, changed_by="admin-1", now=LATER)
    assert changed is not None and changed.change is not None
    assert (changed.change.before, changed.change.after) == (FRAMES, richer)
    assert changed.standing.file_definition == FRAMES  # what the file said is kept

    removed = Standing(FRAMES, False, None, FROM_COMPANY_FILE, T0)
    back = admin_revision("FRAMES", removed, FRAMES, changed_by="admin-1", now=LATER)
    assert back is not None and back.standing.active
    assert back.change is not None and back.change.before is None


def test_the_announcement_carries_active_and_who_changed_it() -> None:
    event = announcement(DEPARTMENTS, Standing(PAINT, False, None, "admin-7", T0))

    assert event.event_type == "DepartmentDefined"
    assert event.entity_key == "department:PAINTSHOP"
    assert (event.active, event.changed_by, event.producer) == (False, "admin-7", "order-intake")


# --- what a definition may not break -------------------------------------------------------

COMPANY = sample_company()


def item(sku: str = "SADDLE", **changes: object) -> CatalogueItem:
    fields: dict[str, object] = {
        "sku": sku,
        "name": "Saddle",
        "supplier": "FRAMES",
        "unit": "piece",
        "standard_cost": Decimal("10.00"),
        "transfer_price_rule": {"kind": "cost_plus", "markup_pct": Decimal("10")},
        "lead_time_days": 2,
        **changes,
    }
    return CatalogueItem.model_validate(fields)


def test_a_sound_definition_has_no_problem() -> None:
    assert definition_problems(COMPANY, CATALOGUE, item()) == []
    frame = COMPANY.item("FRAME-CITY")
    assert frame is not None
    assert definition_problems(COMPANY, CATALOGUE, frame) == []


def test_references_that_do_not_resolve_are_named_by_field() -> None:
    problems = definition_problems(
        COMPANY,
        CATALOGUE,
        item(
            supplier="NOWHERE",
            bill_of_materials=[{"sku": "WHEEL-28", "quantity": 2}, {"sku": "GHOST", "quantity": 1}],
        ),
    )
    assert problems == [
        FieldProblem("supplier", "unknown supplier NOWHERE"),
        FieldProblem("bill_of_materials.1.sku", "unknown component GHOST"),
    ]
    employee = Employee(
        employee_id="E-1", name="N", department="NOWHERE", yearly_allowance=Decimal(1)
    )
    assert [p.field for p in definition_problems(COMPANY, EMPLOYEES, employee)] == ["department"]
    department = FRAMES.model_copy(update={"legal_entity": "NC-NOWHERE"})
    assert [p.field for p in definition_problems(COMPANY, DEPARTMENTS, department)] == [
        "legal_entity"
    ]


def test_a_bill_of_materials_cycle_is_refused() -> None:
    # TUBE-AL-6061 is a component of FRAME-CITY: made of FRAME-CITY, it would contain itself
    tube = COMPANY.item("TUBE-AL-6061")
    assert tube is not None
    looped = tube.model_copy(
        update={"bill_of_materials": (Component(sku="FRAME-CITY", quantity=1),)}
    )

    [problem] = definition_problems(COMPANY, CATALOGUE, looped)

    assert problem.field == "bill_of_materials"
    assert "cycle" in problem.message and "TUBE-AL-6061" in problem.message


@pytest.mark.parametrize(
    ("definition", "field"),
    [
        (item(name="Sad\x00dle"), "name"),
        (item(lead_time_days=2**31), "lead_time_days"),
        (
            item(bill_of_materials=[{"sku": "WHEEL-28", "quantity": 2**40}]),
            "bill_of_materials.0.quantity",
        ),
        (
            item(
                standard_cost=Decimal("9999999999999999.99"),
                transfer_price_rule={"kind": "cost_plus", "markup_pct": Decimal("1e30")},
            ),
            "transfer_price_rule",
        ),
        (
            item(
                standard_cost=Decimal("9000000000000000.00"),
                transfer_price_rule={"kind": "cost_plus", "markup_pct": Decimal("20")},
            ),
            "transfer_price_rule",
        ),
    ],
)
def test_values_order_intake_cannot_keep_are_refused(definition: CatalogueItem, field: str) -> None:
    assert [p.field for p in definition_problems(COMPANY, CATALOGUE, definition)] == [field]


def test_a_discount_finer_than_cents_is_refused() -> None:
    shop = FRAMES.model_copy(
        update={"employee_shop": True, "employee_discount_pct": Decimal("33.333")}
    )
    assert [str(p) for p in storage_problems(shop)] == [
        "employee_discount_pct: at most two decimal places"
    ]


def test_a_company_file_with_values_order_intake_cannot_keep_is_refused_by_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = tmp_path / "company.json"
    company = COMPANY.model_dump(mode="json")
    company["catalogue"][3]["lead_time_days"] = 2**31
    company["departments"][0]["name"] = "Metal\x00works"
    text.write_text(json.dumps(company))
    assert [str(p) for p in company_storage_problems(COMPANY)] == []
    monkeypatch.setenv("COMPANY_FILE", str(text))

    with pytest.raises(CompanyFileError) as refused:
        owned_company(OrderIntakeSettings())

    assert [str(p) for p in refused.value.problems] == [
        "departments[0].name: text must not contain NUL characters",
        "catalogue[3].lead_time_days: must be at most 2147483647",
    ]


def test_the_company_is_the_file_the_sample_or_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPANY_FILE", raising=False)
    assert owned_company(OrderIntakeSettings()) == sample_company()
    monkeypatch.setenv("COMPANY_FILE", str(BRIGHTLOAF))
    brightloaf = owned_company(OrderIntakeSettings())
    assert brightloaf is not None and brightloaf.name == "Brightloaf Bakeries"
    monkeypatch.delenv("COMPANY_FILE")
    monkeypatch.setenv("LOAD_SAMPLE_COMPANY", "false")
    assert owned_company(OrderIntakeSettings()) is None
