"""Route parameters that name a department: one rule (the contracts' department code) for
every path and query parameter of every service."""

from __future__ import annotations

from typing import Any

from fastapi import Path, Query
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
