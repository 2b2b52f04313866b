"""Read a company file (JSON or YAML) all or nothing, every problem located by its path.

    python -m supplychain_contracts.company_file validate FILE

prints each problem as `path: message` and exits 1 when the file is refused; when valid, what
it holds and what each SLA policy credits on a breach, and exits 0. A key the format does not
know is a problem (`departments[3].aproval_threshold: unknown key (did you mean
approval_threshold?)`): what it meant to set would otherwise be lost in silence.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from decimal import Decimal
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
from supplychain_contracts.unknown_keys import file_path, unknown_keys


class CompanyFileError(Exception):
    """The file is refused; `problems` names each problem by its path in the file."""

    def __init__(self, source: str, problems: list[CompanyProblem]) -> None:
        self.source = source
        self.problems = problems
        listed = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{listed}")


def parse_company(data: Any, *, source: str = "company") -> Company:
    """Validate a company document (already parsed): its keys, the model, then every
    reference; refused with every problem found."""
    problems = [
        CompanyProblem(unknown.path, unknown.message) for unknown in unknown_keys(Company, data)
    ]
    try:
        company = Company.model_validate(data, context={DEFER_REFERENCE_CHECKS: True})
    except ValidationError as exc:
        problems += [
            CompanyProblem(file_path(tuple(error["loc"])), error["msg"]) for error in exc.errors()
        ]
        raise CompanyFileError(source, problems) from exc
    problems += company_problems(company)
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


@dataclass(frozen=True)
class PolicyCredit:
    """What an SLA policy of the file credits the requester on a breach."""

    path: str
    policy_id: str
    service_credit_pct: Decimal

    def __str__(self) -> str:
        pct = self.service_credit_pct
        credit = f"breach credit {pct.normalize():f} %" if pct > 0 else "no credit"
        return f"{self.path} {self.policy_id}: {credit}"


def policy_credits(company: Company) -> list[PolicyCredit]:
    """Each SLA policy's breach credit, in file order (0: the policy credits nothing)."""
    return [
        PolicyCredit(f"sla_policies[{i}]", policy.policy_key, policy.service_credit_pct)
        for i, policy in enumerate(company.sla_policies)
    ]


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
    for credit in policy_credits(company):
        print(f"  {credit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
