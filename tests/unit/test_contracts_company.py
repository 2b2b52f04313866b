"""The sample company fixture and the Company reference model (pure, no IO)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError
from supplychain_contracts import Stage
from supplychain_contracts.company import (
    CatalogueItem,
    Company,
    CostPlus,
    FixedPrice,
    sample_company,
)


@pytest.fixture(scope="module")
def company() -> Company:
    return sample_company()


def _bom_depth(company: Company, sku: str) -> int:
    item = company.item(sku)
    assert item is not None, sku
    if not item.bill_of_materials:
        return 1
    return 1 + max(_bom_depth(company, c.sku) for c in item.bill_of_materials)


def test_sample_company_loads_and_is_cached(company: Company) -> None:
    assert isinstance(company, Company)
    assert company.name
    assert sample_company() is company


def test_at_least_eight_departments_with_unique_codes(company: Company) -> None:
    codes = [d.code for d in company.departments]
    assert len(codes) >= 8
    assert len(set(codes)) == len(codes)


def test_at_least_two_legal_entities_in_use(company: Company) -> None:
    assert len(company.legal_entities) >= 2
    used = {d.legal_entity for d in company.departments}
    assert used == {e.code for e in company.legal_entities}


def test_catalogue_skus_are_unique(company: Company) -> None:
    skus = [i.sku for i in company.catalogue]
    assert len(set(skus)) == len(skus)


def test_three_level_production_chain(company: Company) -> None:
    ebike = company.item("EBIKE-CITY")
    assert ebike is not None
    assert ebike.supplier == "ASSEMBLY"
    assert "FRAME-CITY" in {c.sku for c in ebike.bill_of_materials}
    frame = company.item("FRAME-CITY")
    assert frame is not None
    assert frame.supplier == "FRAMES"
    assert "TUBE-AL-6061" in {c.sku for c in frame.bill_of_materials}
    tube = company.item("TUBE-AL-6061")
    assert tube is not None
    assert tube.supplier == "METALWORKS"
    assert _bom_depth(company, "EBIKE-CITY") >= 3
    assert max(_bom_depth(company, i.sku) for i in company.catalogue) >= 3


def test_every_bom_component_is_supplied_by_another_department(company: Company) -> None:
    checked = 0
    for item in company.catalogue:
        for component in item.bill_of_materials:
            supplied = company.item(component.sku)
            assert supplied is not None, component.sku
            assert supplied.supplier != item.supplier, (item.sku, component.sku)
            assert component.quantity > 0
            checked += 1
    assert checked >= 5


def test_an_employee_shop_exists_and_sells_to_employees(company: Company) -> None:
    shops = [d for d in company.departments if d.employee_shop]
    assert shops
    shop = shops[0]
    assert Decimal(0) < shop.employee_discount_pct < Decimal(100)
    shop_items = [i for i in company.catalogue if i.supplier == shop.code]
    assert shop_items
    assert all(i.list_price is not None for i in shop_items)
    assert company.employees


def test_every_supplier_has_an_sla_policy_covering_every_stage(company: Company) -> None:
    suppliers = {item.supplier for item in company.catalogue}
    covered = {p.supplier for p in company.sla_policies}
    assert suppliers <= covered
    for policy in company.sla_policies:
        assert set(policy.targets_seconds) == set(Stage)
        assert all(t > 0 for t in policy.targets_seconds.values())
        assert 0 < policy.warning_threshold < 1


def test_lookup_helpers(company: Company) -> None:
    assert company.department("ASSEMBLY") is not None
    assert company.department("NOPE") is None
    assert company.item("NOPE") is None


@pytest.mark.parametrize(
    ("sku", "expected"),
    [
        ("TUBE-AL-6061", Decimal("13.50")),  # 12.50 * 1.08
        ("FRAME-CITY", Decimal("104.50")),  # 95.00 * 1.10
        ("DRIVE-250W", Decimal("347.20")),  # 310.00 * 1.12
        ("PAINT-FRAME", Decimal("20.00")),  # fixed
        ("PALLET-MOVE", Decimal("18.00")),  # fixed
        ("SHOP-HELMET", Decimal("30.00")),  # 0 % markup
    ],
)
def test_transfer_price_of_the_sample_catalogue(
    company: Company, sku: str, expected: Decimal
) -> None:
    item = company.item(sku)
    assert item is not None
    assert item.transfer_price == expected
    assert item.transfer_price.as_tuple().exponent == -2


def _item(rule: CostPlus | FixedPrice, standard_cost: str) -> CatalogueItem:
    return CatalogueItem(
        sku="X",
        name="x",
        supplier="METALWORKS",
        unit="piece",
        standard_cost=Decimal(standard_cost),
        transfer_price_rule=rule,
        lead_time_days=1,
    )


def test_cost_plus_rounds_half_up_to_cents() -> None:
    # 0.05 * 1.5 = 0.075 → 0.08 (half up), not 0.07 (banker's rounding)
    assert _item(CostPlus(markup_pct=Decimal("50")), "0.05").transfer_price == Decimal("0.08")
    assert _item(CostPlus(markup_pct=Decimal("12.5")), "10.00").transfer_price == Decimal("11.25")


def test_fixed_rule_ignores_standard_cost() -> None:
    item = _item(FixedPrice(price=Decimal("7.77")), "100.00")
    assert item.transfer_price == Decimal("7.77")


def test_cost_plus_markup_cannot_be_negative() -> None:
    with pytest.raises(ValidationError):
        CostPlus(markup_pct=Decimal("-1"))


def test_transfer_price_rule_is_discriminated_by_kind() -> None:
    item = CatalogueItem.model_validate(
        {
            "sku": "X",
            "name": "x",
            "supplier": "METALWORKS",
            "unit": "piece",
            "standard_cost": "10.00",
            "transfer_price_rule": {"kind": "fixed", "price": "12.00"},
            "lead_time_days": 0,
        }
    )
    assert isinstance(item.transfer_price_rule, FixedPrice)
    with pytest.raises(ValidationError):
        CatalogueItem.model_validate(
            {**item.model_dump(mode="json"), "transfer_price_rule": {"kind": "auction"}}
        )


# --- the validator refuses dangling references -----------------------------------------


def _data() -> dict[str, Any]:
    return sample_company().model_dump(mode="json")


def test_the_dumped_sample_validates_again() -> None:
    assert Company.model_validate(_data()) == sample_company()


def test_unknown_legal_entity_is_refused() -> None:
    data = _data()
    data["departments"][0]["legal_entity"] = "NC-NOWHERE"
    with pytest.raises(ValidationError, match="unknown legal entity NC-NOWHERE"):
        Company.model_validate(data)


def test_catalogue_item_of_unknown_supplier_is_refused() -> None:
    data = _data()
    data["catalogue"][0]["supplier"] = "GHOSTS"
    with pytest.raises(ValidationError, match="unknown supplier GHOSTS"):
        Company.model_validate(data)


def test_unknown_bom_component_is_refused() -> None:
    data = _data()
    item = next(i for i in data["catalogue"] if i["bill_of_materials"])
    item["bill_of_materials"][0]["sku"] = "UNOBTAINIUM"
    with pytest.raises(ValidationError, match="unknown component UNOBTAINIUM"):
        Company.model_validate(data)


def test_employee_of_unknown_department_is_refused() -> None:
    data = _data()
    data["employees"][0]["department"] = "GHOSTS"
    with pytest.raises(ValidationError, match="unknown department"):
        Company.model_validate(data)


def test_sla_policy_for_unknown_supplier_is_refused() -> None:
    data = _data()
    data["sla_policies"][0]["supplier"] = "GHOSTS"
    with pytest.raises(ValidationError, match="unknown department GHOSTS"):
        Company.model_validate(data)
