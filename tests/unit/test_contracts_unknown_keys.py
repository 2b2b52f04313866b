"""Unknown keys of a document (supplychain_contracts.unknown_keys), pure: each named by its path
with the closest known key, through nested models, collections, dict values, optional fields
and unions (by their tag); no false positives on the company files we ship."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts.company import (
    CatalogueItem,
    Company,
    Department,
    TransferPriceRule,
)
from supplychain_contracts.unknown_keys import UnknownKey, closest, unknown_keys

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FILE = ROOT / "libs/contracts/src/supplychain_contracts/fixtures/sample_company.json"
EXAMPLES = sorted((ROOT / "examples" / "company").glob("*.y*ml"))
SAMPLE = json.loads(SAMPLE_FILE.read_text(encoding="utf-8"))


def _sample() -> dict[str, Any]:
    return copy.deepcopy(SAMPLE)


def _found(model: type[BaseModel], data: Any) -> dict[str, str]:
    return {str(u.path): u.message for u in unknown_keys(model, data)}


@pytest.mark.parametrize("path", [SAMPLE_FILE, *EXAMPLES], ids=lambda p: p.name)
def test_the_company_files_we_ship_have_no_unknown_key(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    assert unknown_keys(Company, data) == []


def test_a_document_dumped_from_the_model_has_no_unknown_key() -> None:
    company = Company.model_validate(SAMPLE)
    assert unknown_keys(Company, json.loads(company.model_dump_json())) == []


def test_a_misspelled_key_is_named_by_its_path_with_the_closest_known_key() -> None:
    data = _sample()
    data["departments"][3]["aproval_threshold"] = "100.00"
    [found] = unknown_keys(Company, data)
    assert found == UnknownKey(("departments", 3, "aproval_threshold"), "approval_threshold")
    assert str(found) == (
        "departments[3].aproval_threshold: unknown key (did you mean approval_threshold?)"
    )
    assert found.field == "departments.3.aproval_threshold"  # as the HTTP API names fields


def test_keys_are_found_at_every_depth_in_document_order() -> None:
    data = _sample()
    data["catalogue"][3]["bill_of_materials"][0]["qty"] = 2
    data["sla_policies"][0]["calendar"] = {"timezone": "Europe/Berlin"}
    data["sla_policies"][1]["Service_Credit_Pct"] = "5"
    data["fx_rate"] = []
    data["calendars"] = [{"code": "X", "closure_day": ["2026-12-24"]}]
    assert [str(u) for u in unknown_keys(Company, data)] == [
        "catalogue[3].bill_of_materials[0].qty: unknown key (did you mean quantity?)",
        "sla_policies[0].calendar.timezone: unknown key (did you mean time_zone?)",
        "sla_policies[1].Service_Credit_Pct: unknown key (did you mean service_credit_pct?)",
        "fx_rate: unknown key (did you mean fx_rates?)",
        "calendars[0].closure_day: unknown key (did you mean closure_days?)",
    ]


def test_a_key_like_none_known_has_no_suggestion() -> None:
    assert _found(Department, {"code": "X", "colour": "blue"}) == {"colour": "unknown key"}
    assert closest("colour", ["code", "name"]) is None


def test_a_union_member_is_chosen_by_its_kind() -> None:
    item = {**_sample()["catalogue"][0]}
    # a markup belongs to cost_plus: in a fixed price it is unknown
    item["transfer_price_rule"] = {"kind": "fixed", "price": "3.00", "markup_pct": "5"}
    assert _found(CatalogueItem, item) == {"transfer_price_rule.markup_pct": "unknown key"}
    item["transfer_price_rule"] = {"kind": "cost_plus", "markup_pc": "5"}
    assert _found(CatalogueItem, item) == {
        "transfer_price_rule.markup_pc": "unknown key (did you mean markup_pct?)"
    }


def test_an_unknown_kind_reports_only_keys_no_member_knows() -> None:
    item = {**_sample()["catalogue"][0]}
    # the kind itself is the model's to refuse; price and markup_pct are known to some member
    item["transfer_price_rule"] = {"kind": "fixd", "price": "3", "markup_pct": "5", "prise": 1}
    assert _found(CatalogueItem, item) == {
        "transfer_price_rule.prise": "unknown key (did you mean price?)"
    }


class Leaf(BaseModel):
    amount: int = 0


class Tree(BaseModel):
    by_name: dict[str, Leaf] = {}
    maybe: Leaf | None = None
    rules: tuple[TransferPriceRule, ...] = ()
    pair: tuple[Leaf, int] | None = None
    aliased: int = Field(default=0, alias="anAlias")
    plain: list[int] = []


def test_dict_values_optional_fields_collections_of_unions_and_aliases() -> None:
    data = {
        "by_name": {"a": {"amount": 1}, "b": {"amont": 2}},
        "maybe": {"amounts": 3},
        "rules": [{"kind": "cost_plus", "markup_pct": 1}, {"kind": "fixed", "prices": 1}],
        "pair": [{"amout": 1}, 2],
        "anAlias": 1,
        "plain": [1, 2],
    }
    assert _found(Tree, data) == {
        "by_name.b.amont": "unknown key (did you mean amount?)",
        "maybe.amounts": "unknown key (did you mean amount?)",
        "rules[1].prices": "unknown key (did you mean price?)",
        "pair[0].amout": "unknown key (did you mean amount?)",
    }
    assert unknown_keys(Tree, {"aliased": 1}) == []  # the field's name is known too


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    leaf: Leaf | None = None


def test_a_model_that_keeps_extra_keys_has_none_unknown_but_its_fields_are_walked() -> None:
    found = unknown_keys(Open, {"anything": 1, "leaf": {"amont": 1}})
    assert [str(u) for u in found] == ["leaf.amont: unknown key (did you mean amount?)"]


def test_values_of_the_wrong_shape_are_left_to_validation() -> None:
    assert unknown_keys(Company, None) == []
    assert unknown_keys(Company, ["not", "a", "mapping"]) == []
    data = {"departments": "not a list", "catalogue": [1, "x", None], "maybe": 3}
    assert _found(Company, data) == {"maybe": "unknown key"}
    assert unknown_keys(Tree, {"maybe": None, "by_name": [1], 3: "a non-text key"}) == []


def test_models_still_ignore_unknown_fields_it_is_their_compatibility_rule() -> None:
    department = {**_sample()["departments"][0], "added_in_a_later_version": True}
    assert Department.model_validate(department).code == department["code"]
