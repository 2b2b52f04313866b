"""The company file: JSON or YAML, all or nothing, every problem located by its path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from supplychain_cli.app import app
from supplychain_contracts.company import sample_company
from supplychain_contracts.company_file import (
    CompanyFileError,
    load_company_file,
    main,
    parse_company,
    policy_credits,
)
from supplychain_contracts.schemas import COMPANY_SCHEMA, company_schema, render
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
SECOND_COMPANY = ROOT / "examples" / "company" / "brightloaf.yaml"
SAMPLE = json.loads(sample_company().model_dump_json())


def _sample() -> dict[str, Any]:
    return copy.deepcopy(SAMPLE)


def _paths(data: Any) -> dict[str, str]:
    with pytest.raises(CompanyFileError) as refused:
        parse_company(data)
    return {problem.path: problem.message for problem in refused.value.problems}


def test_the_sample_format_stays_accepted_as_it_is() -> None:
    fixture = ROOT / "libs/contracts/src/supplychain_contracts/fixtures/sample_company.json"
    assert load_company_file(fixture) == sample_company()


def test_a_second_company_in_yaml_differs_in_every_name() -> None:
    second = load_company_file(SECOND_COMPANY)
    sample = sample_company()
    assert second.name != sample.name
    assert not {d.code for d in second.departments} & {d.code for d in sample.departments}
    assert not {i.sku for i in second.catalogue} & {i.sku for i in sample.catalogue}
    assert not {e.code for e in second.legal_entities} & {e.code for e in sample.legal_entities}
    croissants = second.item("CROISSANT-TRAY")
    assert croissants is not None and len(croissants.bill_of_materials) == 2
    policy = next(p for p in second.sla_policies if p.requester == "CAFE_NORTH")
    assert second.calendar_of(policy).time_zone == "Europe/Zurich"


def test_every_problem_is_reported_with_its_path_not_only_the_first() -> None:
    data = _sample()
    data["catalogue"][0]["supplier"] = "GHOSTS"
    data["catalogue"][3]["bill_of_materials"][0]["sku"] = "NO-SUCH-PART"
    data["departments"][1]["code"] = data["departments"][0]["code"]
    data["departments"][2]["monthly_budget"] = "-5.00"
    data["employees"][0]["department"] = "NOWHERE"
    data["sla_policies"][1]["supplier"] = "PHANTOM"
    shop = next(i for i, d in enumerate(data["departments"]) if d.get("employee_shop"))
    data["departments"][shop]["employee_discount_pct"] = "0"
    problems = _paths(data)
    assert "departments[2].monthly_budget" in problems  # negative money: a model error
    # model errors come first; fix the money and the references are all reported together
    data["departments"][2]["monthly_budget"] = "5.00"
    problems = _paths(data)
    assert problems["catalogue[0].supplier"] == "unknown supplier GHOSTS"
    assert problems["catalogue[3].bill_of_materials[0].sku"] == "unknown component NO-SUCH-PART"
    assert problems["departments[1]"].startswith("duplicate code")
    assert problems["employees[0].department"] == "unknown department NOWHERE"
    assert "unknown department PHANTOM" in problems["sla_policies[1].supplier"]
    assert "without an employee discount" in problems[f"departments[{shop}].employee_discount_pct"]


def test_a_bill_of_materials_cycle_is_refused_with_the_cycle() -> None:
    data = _sample()
    tube = next(i for i, item in enumerate(data["catalogue"]) if item["sku"] == "TUBE-AL-6061")
    data["catalogue"][tube]["bill_of_materials"] = [{"sku": "EBIKE-CITY", "quantity": 1}]
    problems = _paths(data)
    cycle = problems[f"catalogue[{tube}].bill_of_materials"]
    assert cycle.startswith("cycle in bills of materials: TUBE-AL-6061 -> EBIKE-CITY")
    assert cycle.endswith("-> TUBE-AL-6061")


def test_model_errors_name_their_path() -> None:
    data = _sample()
    data["catalogue"][2]["transfer_price_rule"] = {"kind": "cost_plus", "markup_pct": "-1"}
    data["departments"][0].pop("cost_centre")
    problems = _paths(data)
    assert "departments[0].cost_centre" in problems
    assert any(path.startswith("catalogue[2].transfer_price_rule") for path in problems)


def test_syntax_errors_name_line_and_column(tmp_path: Path) -> None:
    broken = tmp_path / "company.yaml"
    broken.write_text("name: x\ndepartments: [unclosed\n", encoding="utf-8")
    with pytest.raises(CompanyFileError) as refused:
        load_company_file(broken)
    assert refused.value.problems[0].path.startswith("line ")
    as_json = tmp_path / "company.json"
    as_json.write_text('{"name": "x",, }', encoding="utf-8")
    with pytest.raises(CompanyFileError) as refused:
        load_company_file(as_json)
    assert refused.value.problems[0].path == "line 1, column 14"


def test_validate_command_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _sample()
    data["catalogue"][0]["supplier"] = "GHOSTS"
    data["employees"][0]["department"] = "NOWHERE"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert main(["validate", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "catalogue[0].supplier: unknown supplier GHOSTS" in out
    assert "employees[0].department: unknown department NOWHERE" in out
    assert main(["validate", str(SECOND_COMPANY)]) == 0
    assert "valid: Brightloaf Bakeries" in capsys.readouterr().out


def test_a_misspelled_key_is_refused_with_the_other_problems_and_a_suggestion() -> None:
    data = _sample()
    data["departments"][3]["aproval_threshold"] = "100.00"
    data["catalogue"][2]["transfer_price_rule"] = {"kind": "cost_plus", "markup": "5"}
    problems = _paths(data)
    assert problems["departments[3].aproval_threshold"] == (
        "unknown key (did you mean approval_threshold?)"
    )
    assert problems["catalogue[2].transfer_price_rule.markup"] == (
        "unknown key (did you mean markup_pct?)"
    )
    assert "catalogue[2].transfer_price_rule.cost_plus.markup_pct" in problems  # model's own
    # a file whose model is valid: unknown keys and broken references are reported together
    data = _sample()
    data["departments"][3]["aproval_threshold"] = "100.00"
    data["employees"][0]["department"] = "NOWHERE"
    assert set(_paths(data)) == {"departments[3].aproval_threshold", "employees[0].department"}


def test_each_policy_credits_what_the_file_says_and_nothing_unless_it_says() -> None:
    data = _sample()
    data["sla_policies"][0]["service_credit_pct"] = "7.50"
    data["sla_policies"][1].pop("service_credit_pct")
    credits = [str(credit) for credit in policy_credits(parse_company(data))]
    supplier = data["sla_policies"][0]["supplier"]
    assert credits[0] == f"sla_policies[0] {supplier}: breach credit 7.5 %"
    assert credits[1] == f"sla_policies[1] {data['sla_policies'][1]['supplier']}: no credit"
    assert len(credits) == len(data["sla_policies"])


def _misspelled(tmp_path: Path) -> Path:
    data = yaml.safe_load(SECOND_COMPANY.read_text(encoding="utf-8"))
    bakehouse = next(d for d in data["departments"] if d["code"] == "BAKEHOUSE")
    bakehouse["aproval_threshold"] = bakehouse.pop("approval_threshold")
    bad = tmp_path / "misspelled.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return bad


BRIGHTLOAF_CREDITS = [
    "sla_policies[0] MILL: breach credit 5 %",
    "sla_policies[1] DAIRY: breach credit 5 %",
    "sla_policies[2] BAKEHOUSE-STANDARD: breach credit 7.5 %",
    "sla_policies[3] BAKEHOUSE:from-CAFE_NORTH: breach credit 12 %",
    "sla_policies[4] STAFF_SHOP: no credit",
]
MISSPELLED = "departments[2].aproval_threshold: unknown key (did you mean approval_threshold?)"


def test_validate_module_prints_the_credits_and_refuses_a_misspelled_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", str(SECOND_COMPANY)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "valid" in lines[0]
    assert [line.strip() for line in lines[1:]] == BRIGHTLOAF_CREDITS
    bad = _misspelled(tmp_path)
    assert main(["validate", str(bad)]) == 1
    assert capsys.readouterr().out.splitlines() == [f"{bad}: {MISSPELLED}"]


def test_cli_company_validate_prints_the_credits_and_refuses_a_misspelled_key(
    tmp_path: Path,
) -> None:
    runner = CliRunner()
    valid = runner.invoke(app, ["company", "validate", str(SECOND_COMPANY)])
    assert valid.exit_code == 0, valid.output
    lines = valid.output.splitlines()
    assert "valid company 'Brightloaf Bakeries'" in lines[0]
    assert [line.strip() for line in lines[1:]] == BRIGHTLOAF_CREDITS
    as_json = runner.invoke(app, ["company", "validate", str(SECOND_COMPANY), "--json"])
    credits = json.loads(as_json.output)["credits"]
    assert [(c["policy_id"], c["service_credit_pct"]) for c in credits][-2:] == [
        ("BAKEHOUSE:from-CAFE_NORTH", "12"),
        ("STAFF_SHOP", "0"),
    ]
    bad = _misspelled(tmp_path)
    refused = runner.invoke(app, ["company", "validate", str(bad)], env={"COLUMNS": "200"})
    assert refused.exit_code == 1
    assert MISSPELLED in refused.output


def test_the_company_schema_is_published_and_up_to_date() -> None:
    assert COMPANY_SCHEMA.read_text(encoding="utf-8") == render(company_schema()), (
        "the company file schema is out of date: run `make schemas`"
    )
