"""The checked-in event schemas are the published contract: up to date and never broken."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from supplychain_contracts import topics
from supplychain_contracts.registry import all_event_models, topic_for
from supplychain_contracts.schemas import (
    PUBLISHED_DIR,
    breaking_changes,
    current_schemas,
    export,
    published_schemas,
    render,
    schema_file_name,
)

CURRENT = current_schemas()
REFERENCE_EVENTS = {
    model.__name__ for model in all_event_models() if topic_for(model) == topics.REFERENCE
}
OPERATIONS_EVENTS = {
    model.__name__ for model in all_event_models() if topic_for(model) == topics.REDRIVES
}
PUBLISHED = published_schemas()


def test_published_dir_is_the_checked_in_folder() -> None:
    # inside the package, so the wheel carries them
    assert PUBLISHED_DIR.parts[-4:] == ("contracts", "src", "supplychain_contracts", "json_schemas")
    assert PUBLISHED_DIR.is_dir()


def test_there_is_one_published_schema_per_event_model() -> None:
    assert len(CURRENT) == len(all_event_models()) == 22
    assert set(PUBLISHED) == set(CURRENT), (
        "published schemas and event models differ: run `make schemas` "
        f"(missing: {sorted(set(CURRENT) - set(PUBLISHED))}, "
        f"without a model: {sorted(set(PUBLISHED) - set(CURRENT))})"
    )


def test_schema_file_names_carry_type_and_version() -> None:
    for model in all_event_models():
        name = schema_file_name(model)
        assert name == f"{model.__name__}.v1.json"


@pytest.mark.parametrize("name", sorted(CURRENT))
def test_checked_in_schema_is_up_to_date(name: str) -> None:
    path = PUBLISHED_DIR / name
    assert path.exists(), f"{name} is not published: run `make schemas`"
    assert path.read_text(encoding="utf-8") == render(CURRENT[name]), (
        f"{name} is out of date with the event model: run `make schemas`"
    )


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_current_model_is_compatible_with_published_schema(name: str) -> None:
    assert name in CURRENT, f"published schema {name} has no model any more"
    problems = breaking_changes(PUBLISHED[name], CURRENT[name])
    assert problems == [], f"{name}: breaking changes {problems}"


def test_render_is_stable_sorted_json_with_trailing_newline() -> None:
    text = render({"b": 1, "a": {"d": 2, "c": 3}})
    assert text.endswith("}\n")
    assert text.index('"a"') < text.index('"b"')
    assert text.index('"c"') < text.index('"d"')
    assert json.loads(text) == {"a": {"c": 3, "d": 2}, "b": 1}


def test_published_schemas_describe_the_envelope() -> None:
    envelope = {
        "event_id",
        "event_type",
        "schema_version",
        "occurred_at",
        "order_id",
        "root_order_id",
        "causation_id",
        "producer",
    }
    reference = envelope - {"order_id", "root_order_id"} | {"entity_key"}
    for name, schema in PUBLISHED.items():
        if name.split(".")[0] in REFERENCE_EVENTS:  # keyed by entity, about no order
            assert reference <= set(schema["properties"]), name
            assert {"entity_key", "producer"} <= set(schema["required"]), name
            continue
        if name.split(".")[0] in OPERATIONS_EVENTS:  # keyed by the record acted on, no order
            assert envelope - {"order_id", "root_order_id"} <= set(schema["properties"]), name
            assert "producer" in schema["required"], name
            continue
        assert envelope <= set(schema["properties"]), name
        assert {"order_id", "root_order_id", "producer"} <= set(schema["required"]), name
        assert schema["properties"]["event_type"]["const"] == name.split(".")[0]


# --- export() into a scratch folder ----------------------------------------------------


def test_export_into_an_empty_folder_writes_every_schema(tmp_path: Path) -> None:
    target = tmp_path / "schemas"
    assert export(target) == []
    assert {p.name for p in target.iterdir()} == set(CURRENT)
    for name, schema in CURRENT.items():
        assert (target / name).read_text(encoding="utf-8") == render(schema)


def test_export_over_the_published_schemas_is_a_no_op(tmp_path: Path) -> None:
    for name, schema in PUBLISHED.items():
        (tmp_path / name).write_text(render(schema), encoding="utf-8")
    assert export(tmp_path) == []
    assert published_schemas(tmp_path) == CURRENT


def test_export_refuses_when_a_published_schema_would_break(tmp_path: Path) -> None:
    broken = json.loads(render(CURRENT["OrderPlaced.v1.json"]))
    broken["properties"]["legacy_code"] = {"title": "Legacy Code", "type": "string"}
    broken["required"].append("legacy_code")
    retyped = json.loads(render(CURRENT["OrderShipped.v1.json"]))
    retyped["properties"]["producer"] = {"title": "Producer", "type": "integer"}
    original_placed = render(broken)
    original_shipped = render(retyped)
    (tmp_path / "OrderPlaced.v1.json").write_text(original_placed, encoding="utf-8")
    (tmp_path / "OrderShipped.v1.json").write_text(original_shipped, encoding="utf-8")

    problems = export(tmp_path)

    assert any(
        p.startswith("OrderPlaced.v1.json:") and "legacy_code" in p and "removed" in p
        for p in problems
    ), problems
    assert any(
        p.startswith("OrderShipped.v1.json:") and "producer" in p and "type changed" in p
        for p in problems
    ), problems
    # nothing was written: the published files are untouched and no new file appeared
    assert (tmp_path / "OrderPlaced.v1.json").read_text(encoding="utf-8") == original_placed
    assert (tmp_path / "OrderShipped.v1.json").read_text(encoding="utf-8") == original_shipped
    assert {p.name for p in tmp_path.iterdir()} == {"OrderPlaced.v1.json", "OrderShipped.v1.json"}


def test_export_refuses_when_a_published_schema_lost_its_model(tmp_path: Path) -> None:
    (tmp_path / "OrderTeleported.v1.json").write_text(
        render({"type": "object", "properties": {}}), encoding="utf-8"
    )
    problems = export(tmp_path)
    assert problems == ["OrderTeleported.v1.json: published schema has no model any more"]
    assert [p.name for p in tmp_path.iterdir()] == ["OrderTeleported.v1.json"]
