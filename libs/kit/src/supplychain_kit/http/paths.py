"""Which documented operation a request path is: its path parameters and the methods it
answers, read from the app's OpenAPI document (the routes FastAPI nests are not a flat list
to match against)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_TEMPLATE_PARAMETER = re.compile(r"\{([^}:]+)(:path)?\}")


@dataclass(frozen=True)
class PathTemplate:
    pattern: re.Pattern[str]
    methods: frozenset[str]
    # (method, where, name) of each parameter the document declares an integer
    integers: frozenset[tuple[str, str, str]]


def _declares_integer(schema: dict[str, Any]) -> bool:
    branches = [schema, *schema.get("anyOf", []), *schema.get("oneOf", [])]
    return any(branch.get("type") == "integer" for branch in branches)


def _compile(template: str) -> re.Pattern[str]:
    parts: list[str] = []
    position = 0
    for found in _TEMPLATE_PARAMETER.finditer(template):
        parts.append(re.escape(template[position : found.start()]))
        parts.append(f"(?P<{found.group(1)}>{'.*' if found.group(2) else '[^/]*'})")
        position = found.end()
    parts.append(re.escape(template[position:]))
    return re.compile("".join(parts), re.DOTALL)


def _templates(app: Any) -> list[PathTemplate]:
    cached: list[PathTemplate] | None = getattr(app.state, "path_templates", None)
    if cached is None:
        cached = [
            PathTemplate(
                _compile(path),
                frozenset(method.upper() for method in operations),
                frozenset(
                    (method.upper(), parameter["in"], parameter["name"])
                    for method, operation in operations.items()
                    for parameter in operation.get("parameters", [])
                    if _declares_integer(parameter.get("schema", {}))
                ),
            )
            for path, operations in app.openapi().get("paths", {}).items()
        ]
        app.state.path_templates = cached
    return cached


def path_parameters(app: Any, path: str) -> dict[str, str]:
    """The documented path parameters of `path` ({} when no documented path matches)."""
    for template in _templates(app):
        found = template.pattern.fullmatch(path)
        if found is not None and found.groupdict():
            return found.groupdict()
    return {}


def allowed_methods(app: Any, path: str) -> set[str]:
    """Every method the documented operations of `path` answer."""
    methods: set[str] = set()
    for template in _templates(app):
        if template.pattern.fullmatch(path):
            methods |= template.methods
    return methods


def integer_parameters(app: Any, method: str, path: str) -> set[tuple[str, str]]:
    """(where, name) of the parameters the documented operation declares integers."""
    for template in _templates(app):
        if template.pattern.fullmatch(path):
            return {(where, name) for m, where, name in template.integers if m == method}
    return set()
