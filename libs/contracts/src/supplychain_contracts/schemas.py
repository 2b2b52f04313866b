"""JSON Schemas of the events, and the rules that keep contracts additive.

The checked-in files under supplychain_contracts/json_schemas are the published contract,
shipped inside the package (a subscriber reads them with `published_schemas()`). A model
change is compatible with a published schema when every existing consumer keeps working:
no field removed or renamed, no field retyped, no new required field, no enum value removed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from supplychain_contracts.envelope import Event
from supplychain_contracts.registry import all_event_models

Schema = Mapping[str, Any]

PUBLISHED_DIR = Path(__file__).resolve().parent / "json_schemas"
# The company file's format (COMPANY_FILE), published beside the events.
COMPANY_SCHEMA = PUBLISHED_DIR / "company" / "Company.v1.json"


def company_schema() -> dict[str, Any]:
    from supplychain_contracts.company import Company

    schema = Company.model_json_schema(mode="validation")
    schema["$id"] = "https://supplychain.example/schemas/company/Company.v1.json"
    schema["description"] = (
        "A company run by the internal supply chain platform (COMPANY_FILE, JSON or YAML)."
    )
    return schema


def schema_file_name(model: type[Event]) -> str:
    version = model.model_fields["schema_version"].default
    return f"{model.model_fields['event_type'].default}.v{version}.json"


def event_schema(model: type[Event]) -> dict[str, Any]:
    return model.model_json_schema(mode="serialization")


def current_schemas() -> dict[str, dict[str, Any]]:
    """File name → schema for every event model as the code defines it now."""
    return {schema_file_name(model): event_schema(model) for model in all_event_models()}


def render(schema: Schema) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def published_schemas(directory: Path = PUBLISHED_DIR) -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every way `new` would break a consumer written against `old` (empty when compatible)."""
    problems: list[str] = []
    _compare(old, new, "$", old.get("$defs", {}), new.get("$defs", {}), problems, set())
    return problems


def _resolve(schema: Schema, defs: Mapping[str, Any]) -> Schema:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        resolved: Schema = defs[ref.removeprefix("#/$defs/")]
        return resolved
    return schema


def _type_signature(schema: Schema, defs: Mapping[str, Any]) -> str:
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        return "|".join(sorted(_type_signature(s, defs) for s in schema["anyOf"]))
    if "const" in schema:
        return f"const:{schema['const']}"
    kind = schema.get("type", "any")
    if "enum" in schema:
        return f"enum:{kind}"
    fmt = schema.get("format")
    return f"{kind}:{fmt}" if fmt else str(kind)


def _compare(
    old: Schema,
    new: Schema,
    path: str,
    old_defs: Mapping[str, Any],
    new_defs: Mapping[str, Any],
    problems: list[str],
    seen: set[tuple[str, str]],
) -> None:
    old, new = _resolve(old, old_defs), _resolve(new, new_defs)
    key = (json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True))
    if key in seen:
        return
    seen.add(key)
    old_sig, new_sig = _type_signature(old, old_defs), _type_signature(new, new_defs)
    if old_sig != new_sig:
        problems.append(f"{path}: type changed from {old_sig} to {new_sig}")
        return
    if "enum" in old:
        removed = set(old["enum"]) - set(new.get("enum", []))
        if removed:
            problems.append(f"{path}: enum values removed {sorted(removed)}")
    for old_branch, new_branch in zip(old.get("anyOf", []), new.get("anyOf", []), strict=False):
        _compare(old_branch, new_branch, path, old_defs, new_defs, problems, seen)
    if "items" in old and "items" in new:
        _compare(old["items"], new["items"], f"{path}[]", old_defs, new_defs, problems, seen)
    new_items = new.get("prefixItems", [])
    for prefix_index, old_item in enumerate(old.get("prefixItems", [])):
        if prefix_index >= len(new_items):
            problems.append(f"{path}[{prefix_index}]: tuple position removed")
            continue
        _compare(
            old_item,
            new_items[prefix_index],
            f"{path}[{prefix_index}]",
            old_defs,
            new_defs,
            problems,
            seen,
        )
    old_values, new_values = old.get("additionalProperties"), new.get("additionalProperties")
    if isinstance(old_values, dict) and isinstance(new_values, dict):
        _compare(old_values, new_values, f"{path}{{}}", old_defs, new_defs, problems, seen)
    old_props: Mapping[str, Any] = old.get("properties", {})
    new_props: Mapping[str, Any] = new.get("properties", {})
    for name, old_prop in old_props.items():
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed or renamed")
            continue
        _compare(old_prop, new_props[name], f"{path}.{name}", old_defs, new_defs, problems, seen)
    added_required = set(new.get("required", [])) - set(old.get("required", []))
    for name in sorted(added_required):
        problems.append(f"{path}.{name}: new required field")


def export(directory: Path = PUBLISHED_DIR) -> list[str]:
    """Write the current schemas; refuse (and return the problems) if any change breaks."""
    published = published_schemas(directory) if directory.exists() else {}
    current = current_schemas()
    problems = [
        f"{name}: {problem}"
        for name, schema in published.items()
        if name in current
        for problem in breaking_changes(schema, current[name])
    ]
    problems += [
        f"{name}: published schema has no model any more"
        for name in published
        if name not in current
    ]
    if problems:
        return problems
    directory.mkdir(parents=True, exist_ok=True)
    for name, schema in current.items():
        (directory / name).write_text(render(schema), encoding="utf-8")
    if directory == PUBLISHED_DIR:
        COMPANY_SCHEMA.parent.mkdir(parents=True, exist_ok=True)
        COMPANY_SCHEMA.write_text(render(company_schema()), encoding="utf-8")
    return []


def main() -> int:
    problems = export()
    for problem in problems:
        print(f"breaking change: {problem}")
    if not problems:
        print(f"schemas written to {PUBLISHED_DIR}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
