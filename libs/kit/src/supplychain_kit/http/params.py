"""Route parameters that name a department: one rule (the contracts' department code) for
every path and query parameter of every service."""

from __future__ import annotations

from typing import Any

from fastapi import Path, Query
from pydantic import WithJsonSchema
from supplychain_contracts.envelope import DEPARTMENT_CODE_PATTERN


def department_code_path(description: str, *, example: str = "FRAMES") -> Any:
    """`Path(...)` for a `{code}` naming a department."""
    return Path(
        min_length=2,
        max_length=32,
        pattern=DEPARTMENT_CODE_PATTERN,
        description=description,
        examples=[example],
    )


def department_code_query(description: str, *, example: str = "FRAMES") -> Any:
    """`Query(...)` for an optional filter naming a department."""
    return Query(
        min_length=2,
        max_length=32,
        pattern=DEPARTMENT_CODE_PATTERN,
        description=description,
        examples=[example],
    )


# A decimal in a request body as its JSON Schema says it: a number, or a string of digits with
# an optional sign and fraction. pydantic accepts any string there and refuses "" or "abc" with
# a 422, which the document would call valid input (a client generator or a fuzzer sends it).
DECIMAL_TEXT_PATTERN = r"^[+-]?(\d+(\.\d*)?|\.\d+)$"


def decimal_body_schema(description: str, *, example: str) -> WithJsonSchema:
    """The JSON Schema of a decimal body field (use in `Annotated[Decimal, Field(...), this]`)."""
    return WithJsonSchema(
        {
            "anyOf": [
                {"type": "number"},
                {"type": "string", "pattern": DECIMAL_TEXT_PATTERN},
            ],
            "description": description,
            "examples": [example],
        }
    )
