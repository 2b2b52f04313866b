"""An SLA target no clock can hold is a refused field, not a 500 (found by schemathesis:
1e300 seconds overflowed the deadline's timedelta)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from monitoring.sla.rules import target_problems
from supplychain_contracts.company import SlaPolicy

AT = datetime(2026, 1, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize("seconds", [1e300, 1e18, float("inf"), 0.0, -5.0])
def test_a_target_beyond_any_calendar_is_a_field_problem(seconds: float) -> None:
    policy = SlaPolicy(supplier="FRAMES", targets_seconds={"acceptance": seconds})
    problems = target_problems(policy, policy.calendar, at=AT)
    assert [p.field for p in problems] == ["targets_seconds.acceptance"]


def test_a_target_that_fits_is_no_problem() -> None:
    policy = SlaPolicy(supplier="FRAMES", targets_seconds={"acceptance": 3600})
    assert target_problems(policy, policy.calendar, at=AT) == []
