"""Versions of monitoring's reference data (monitoring.versions, monitoring.company), pure: what
a definition makes, what is in force, what is republished, the history line; what a company
file may not hold for monitoring."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from monitoring.config import MonitoringSettings
from monitoring.reference.company import (
    calendar_defined,
    canonical_policy,
    owned_problems,
    owned_reference,
    policy_defined,
)
from monitoring.reference.versions import (
    SINCE_EVER,
    Version,
    change_of,
    current,
    file_definitions,
    in_force,
    next_version,
)
from supplychain_contracts.company import NamedCalendar, SlaPolicy, sample_company
from supplychain_contracts.company_file import CompanyFileError

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GENERAL = SlaPolicy(
    supplier="ASSEMBLY", targets_seconds={"acceptance": 30}, service_credit_pct=Decimal("5")
)
SLOWER = GENERAL.model_copy(update={"targets_seconds": {"acceptance": 60}})


def define(
    previous: Version[SlaPolicy] | None,
    content: SlaPolicy | None,
    *,
    effective_from: datetime = NOW,
) -> Version[SlaPolicy] | None:
    return next_version(
        previous,
        content,
        key="ASSEMBLY",
        number=4,
        effective_from=effective_from,
        changed_by="admin-1",
        changed_at=NOW,
    )


def first() -> Version[SlaPolicy]:
    made = define(None, GENERAL, effective_from=SINCE_EVER)
    assert made is not None
    return made


# --- what a definition makes -----------------------------------------------------------------


def test_a_new_entity_is_version_1_under_the_number_given() -> None:
    made = first()
    assert (made.key, made.number, made.version, made.active) == ("ASSEMBLY", 4, 1, True)
    assert (made.changed_by, made.changed_at) == ("admin-1", NOW)


def test_the_same_content_makes_no_version() -> None:
    # equal, written otherwise
    same = SlaPolicy.model_validate({**GENERAL.model_dump(), "service_credit_pct": "5.00"})
    assert define(first(), same) is None


def test_a_change_is_the_next_version_of_the_same_entity() -> None:
    made = define(first(), SLOWER)
    assert made is not None
    assert (made.number, made.version, made.effective_from, made.content) == (4, 2, NOW, SLOWER)


def test_the_same_content_due_later_is_brought_forward() -> None:
    due = define(first(), SLOWER, effective_from=NOW + timedelta(days=7))
    assert due is not None
    assert define(due, SLOWER, effective_from=NOW + timedelta(days=8)) is None  # in force by then
    sooner = define(due, SLOWER, effective_from=NOW)
    assert sooner is not None and (sooner.version, sooner.effective_from) == (3, NOW)


def test_removing_makes_an_inactive_version_once_and_defining_again_reactivates() -> None:
    removed = define(first(), None)
    assert removed is not None
    assert (removed.version, removed.active, removed.content) == (2, False, GENERAL)
    assert define(removed, None) is None
    assert define(None, None) is None
    again = define(removed, GENERAL)
    assert again is not None and (again.version, again.active) == (3, True)


def test_the_history_line_says_what_was_before_and_after() -> None:
    created = first()
    changed = define(created, SLOWER)
    assert changed is not None
    removed = define(changed, None)
    assert removed is not None
    lines = [change_of(None, created), change_of(created, changed), change_of(changed, removed)]
    assert [(c.version, c.before, c.after) for c in lines] == [
        (1, None, GENERAL),
        (2, GENERAL, SLOWER),
        (3, SLOWER, None),
    ]


def test_a_policy_is_the_same_whether_its_id_is_written_or_derived() -> None:
    explicit = GENERAL.model_copy(update={"id": "ASSEMBLY"})
    assert canonical_policy(explicit, "ASSEMBLY") == GENERAL
    renamed = canonical_policy(GENERAL, "assembly-gold")
    assert (renamed.id, renamed.policy_key) == ("assembly-gold", "assembly-gold")


# --- in force, current -----------------------------------------------------------------------


def test_in_force_and_current_versions() -> None:
    v1 = first()
    v2 = define(v1, SLOWER, effective_from=NOW + timedelta(days=7))
    assert v2 is not None
    assert in_force([v1, v2], NOW) == [v1]
    assert in_force([v1, v2], NOW + timedelta(days=7)) == [v2]
    assert current([v2, v1], NOW) == [v1, v2]  # in force now, and due later
    assert current([v1, v2], NOW + timedelta(days=7)) == [v2]
    removed = define(v2, None, effective_from=NOW + timedelta(days=8))
    assert removed is not None
    assert in_force([v1, v2, removed], NOW + timedelta(days=9)) == []
    assert current([v1, v2, removed], NOW + timedelta(days=9)) == [removed]


def test_reference_events_carry_the_version() -> None:
    v1 = first()
    event = policy_defined(v1)
    assert (event.entity_key, event.policy_id, event.version, event.active) == (
        "sla_policy:ASSEMBLY",
        "ASSEMBLY",
        1,
        True,
    )
    assert (event.effective_from, event.policy, event.producer) == (
        SINCE_EVER,
        GENERAL,
        "monitoring",
    )
    assert policy_defined(v1).event_id != event.event_id  # republished with a fresh id
    calendar = Version(
        key="BERLIN",
        number=1,
        version=1,
        effective_from=NOW,
        active=False,
        content=NamedCalendar(code="BERLIN"),
        changed_by="admin-1",
        changed_at=NOW,
    )
    defined = calendar_defined(calendar)
    assert (defined.entity_key, defined.active, defined.changed_by) == (
        "calendar:BERLIN",
        False,
        "admin-1",
    )


# --- what monitoring refuses of a company ----------------------------------------------------


def company_data(**changes: Any) -> dict[str, Any]:
    return {**sample_company().model_dump(mode="json"), **changes}


def test_the_sample_company_is_usable() -> None:
    owned = owned_reference(MonitoringSettings(), at=NOW)
    assert owned.policies == sample_company().sla_policies
    assert owned.source == "the sample company"


def test_an_unknown_holidays_region_refuses_the_company_file(tmp_path: Path) -> None:
    path = tmp_path / "company.json"
    calendars = [
        {"code": "BERLIN", "holidays_country": "DE", "holidays_subdivision": "BE"},
        {"code": "NOWHERE", "holidays_country": "XX"},
        {"code": "MOON", "holidays_country": "DE", "holidays_subdivision": "MOON"},
    ]
    path.write_text(json.dumps(company_data(calendars=calendars)))
    with pytest.raises(CompanyFileError) as refused:
        owned_reference(MonitoringSettings(COMPANY_FILE=str(path)), at=NOW)
    problems = {p.path: p.message for p in refused.value.problems}
    assert set(problems) == {"calendars[1].holidays_country", "calendars[2].holidays_subdivision"}
    assert "unknown holidays country 'XX'" in problems["calendars[1].holidays_country"]
    assert str(path) in str(refused.value)


def test_the_override_of_policies_is_checked_like_the_file() -> None:
    policies = [
        {"supplier": "WHEELS", "targets_seconds": {"acceptance": 4}},
        {"supplier": "WHEELS", "targets_seconds": {"acceptance": 5}},
        {"supplier": "FRAMES", "targets_seconds": {"acceptance": 5}, "calendar_code": "NONE"},
        {"supplier": "PAINTSHOP", "targets_seconds": {"acceptance": -1}},
        {
            "supplier": "ASSEMBLY",
            "targets_seconds": {"acceptance": 5},
            "calendar": {"holidays_country": "XX"},
        },
    ]
    settings = MonitoringSettings(sla_policies_json=json.dumps(policies))
    with pytest.raises(CompanyFileError) as refused:
        owned_reference(settings, at=NOW)
    assert [p.path for p in refused.value.problems] == [
        "MONITORING_SLA_POLICIES_JSON[1]",
        "MONITORING_SLA_POLICIES_JSON[2].calendar_code",
        "MONITORING_SLA_POLICIES_JSON[3].targets_seconds.acceptance",
        "MONITORING_SLA_POLICIES_JSON[4].calendar.holidays_country",
    ]


def test_a_target_must_fit_in_its_calendar() -> None:
    owned = owned_reference(MonitoringSettings(), at=NOW)
    sunday_hour = NamedCalendar(code="RARE", working_days=(6,), start_hour=9, end_hour=10)
    years = SlaPolicy(
        supplier="ASSEMBLY",
        targets_seconds={"acceptance": 10 * 366 * 3600},
        calendar_code="RARE",
    )
    problems = owned_problems(
        owned.__class__(source="test", policies=(years,), calendars=(sunday_hour,)),
        policies_path="sla_policies",
        at=NOW,
    )
    assert [p.path for p in problems] == ["sla_policies[0].targets_seconds.acceptance"]
    assert "does not fit" in problems[0].message


# --- what a company file defines -------------------------------------------------------------


def test_a_file_defines_only_what_it_changed_since_the_last_file() -> None:
    rush = SlaPolicy(supplier="ASSEMBLY", priority="rush", targets_seconds={"acceptance": 10})
    wheels = SlaPolicy(supplier="WHEELS", targets_seconds={"acceptance": 30})
    last = {"ASSEMBLY": GENERAL, "ASSEMBLY:rush": rush, "WHEELS": wheels}
    wanted = {"NEW": GENERAL, "ASSEMBLY": SLOWER, "WHEELS": wheels}

    defined = file_definitions(last, wanted)

    # in the file's order, then what it no longer has; WHEELS is said as before: left alone
    assert list(defined.items()) == [
        ("NEW", GENERAL),
        ("ASSEMBLY", SLOWER),
        ("ASSEMBLY:rush", None),
    ]
    assert file_definitions(wanted, wanted) == {}
    assert file_definitions({}, wanted) == wanted  # a first load defines all of it
