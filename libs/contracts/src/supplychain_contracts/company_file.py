"""Read a company file (JSON or YAML) all or nothing, every problem located by its path.

    python -m supplychain_contracts.company_file validate FILE

prints each problem as `path: message` and exits 1 when the file is refused, 0 when valid.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from supplychain_contracts.company import (
    DEFER_REFERENCE_CHECKS,
    Company,
    CompanyProblem,
    company_problems,
    sample_company,
)


class CompanyFileError(Exception):
    """The file is refused; `problems` names each problem by its path in the file."""

    def __init__(self, source: str, problems: list[CompanyProblem]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listed}")


def _path(location: tuple[int | str, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "$"


def parse_company(data: Any, *, source: str = "company") -> Company:
    """Validate a company document (already parsed): the model, then every reference."""
    try:
        company = Company.model_validate(data, context={DEFER_REFERENCE_CHECKS: True})
    except ValidationError as exc:
        problems = [
            CompanyProblem(_path(tuple(error["loc"])), error["msg"]) for error in exc.errors()
        ]
        raise CompanyFileError(source, problems) from exc
    problems = company_problems(company)
    if problems:
        raise CompanyFileError(source, problems)
    return company


def read_document(text: str, *, source: str) -> Any:
    """JSON or YAML text to data; a syntax error is reported with its line and column."""
    if source.endswith(".json"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            where = f"line {exc.lineno}, column {exc.colno}"
            raise CompanyFileError(source, [CompanyProblem(where, exc.msg)]) from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "$"
        message = str(getattr(exc, "problem", None) or exc)
        raise CompanyFileError(source, [CompanyProblem(where, message)]) from exc


def load_company_file(path: str | Path) -> Company:
    """The company described by a JSON or YAML file; raises CompanyFileError."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CompanyFileError(source, [CompanyProblem("$", str(exc))]) from exc
    return parse_company(read_document(text, source=source), source=source)


def company_from(path: str | Path | None) -> Company:
    """The company a service runs: COMPANY_FILE when set, else the sample company."""
    return load_company_file(path) if path else sample_company()


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2 or args[0] != "validate":
        print("usage: python -m supplychain_contracts.company_file validate FILE", file=sys.stderr)
        return 2
    try:
        company = load_company_file(args[1])
    except CompanyFileError as exc:
        for problem in exc.problems:
            print(f"{args[1]}: {problem}")
        return 1
    print(
        f"{args[1]}: valid: {company.name}, {len(company.departments)} departments, "
        f"{len(company.catalogue)} catalogue items, {len(company.employees)} employees, "
        f"{len(company.sla_policies)} SLA policies"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
