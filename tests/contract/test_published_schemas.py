"""The checked-in event schemas are the published contract: up to date and never broken."""

from __future__ import annotations

import json
import subprocess
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
    assert len(CURRENT) == len(all_event_models()) == 35
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


# --- against the last release, from git ------------------------------------------------
# The checked-in files can be regenerated or edited along with a model, so comparing the
# tree with itself proves nothing about what consumers already have. The released schemas
# are read from git at the commit libs/contracts/RELEASED names.

REPO = Path(__file__).resolve().parents[2]
RELEASED_FILE = REPO / "libs" / "contracts" / "RELEASED"
# where the schemas lived over the history, newest first
SCHEMA_DIRS = ("libs/contracts/src/supplychain_contracts/json_schemas", "libs/contracts/schemas")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, (
        f"git {' '.join(args)} failed ({done.stderr.strip()}): the released schemas are read "
        "from git history (a shallow clone needs `git fetch --unshallow`)"
    )
    return done.stdout


def released_commit() -> str:
    lines = RELEASED_FILE.read_text(encoding="utf-8").splitlines()
    [commit] = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    return commit


def released_schemas(commit: str) -> dict[str, dict]:
    """The event schemas (`<Type>.v<n>.json`) as they were at `commit`."""
    for directory in SCHEMA_DIRS:
        paths = _git("ls-tree", "--name-only", commit, f"{directory}/").split()
        files = [path for path in paths if path.endswith(".json")]
        if files:
            return {
                path.rsplit("/", 1)[-1]: json.loads(_git("show", f"{commit}:{path}"))
                for path in files
            }
    raise AssertionError(f"no event schemas at {commit} in any of {SCHEMA_DIRS}")


RELEASED_COMMIT = released_commit()


def test_the_released_commit_is_in_this_history() -> None:
    full = _git("rev-parse", "--verify", f"{RELEASED_COMMIT}^{{commit}}").strip()
    assert full == RELEASED_COMMIT, "libs/contracts/RELEASED must name a full commit id"
    ancestor = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "--is-ancestor", RELEASED_COMMIT, "HEAD"],
        check=False,
    )
    assert ancestor.returncode == 0, f"{RELEASED_COMMIT} is not an ancestor of HEAD"


def test_every_released_schema_is_still_published_and_unbroken() -> None:
    released = released_schemas(RELEASED_COMMIT)
    assert len(released) >= 22, sorted(released)
    problems = {
        name: ["no model any more"]
        if name not in CURRENT
        else breaking_changes(schema, CURRENT[name])
        for name, schema in released.items()
    }
    assert {name: p for name, p in problems.items() if p} == {}, (
        f"breaking changes against the release {RELEASED_COMMIT[:12]}"
    )
    assert set(released) <= set(PUBLISHED)


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
