"""The part of the company monitoring owns: SLA policies and business calendars.

Read at start from COMPANY_FILE (or the sample company), the policies possibly replaced by
MONITORING_SLA_POLICIES_JSON; refused whole, every problem named by its path, when a clock
could not run under it (an unknown time zone or holidays region, a target that does not fit).
What the last file said of each policy and calendar is kept beside it: a load changes only what
the file changed since (an administrator's change stands across restarts until then). Also how monitoring announces a version: the reference events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from supplychain_contracts.company import CompanyProblem, FieldProblem, NamedCalendar, SlaPolicy
from supplychain_contracts.company_file import CompanyFileError, company_from
from supplychain_contracts.reference import (
    BusinessCalendarDefined,
    SlaPolicyDefined,
    entity_key,
)

from monitoring.config import MonitoringSettings
from monitoring.reference import calendars
from monitoring.reference.versions import Version
from monitoring.sla import rules as sla

PRODUCER = "monitoring"
FROM_COMPANY_FILE = "company-file"  # `changed_by` of what a load at start defines
POLICY_KIND, CALENDAR_KIND = "sla_policy", "calendar"


@dataclass(frozen=True)
class OwnedReference:
    """Every SLA policy and named calendar of the company, as one definition."""

    source: str
    policies: tuple[SlaPolicy, ...]
    calendars: tuple[NamedCalendar, ...]


def canonical_policy(policy: SlaPolicy, key: str) -> SlaPolicy:
    """The policy as stored under `key`: its `id` only where the key is not the one its
    supplier, requester and priority give (so a file that names it either way is the same)."""
    derived = policy.model_copy(update={"id": None})
    return derived if derived.policy_key == key else policy.model_copy(update={"id": key})


def owned_reference(settings: MonitoringSettings, *, at: datetime) -> OwnedReference:
    """The policies and calendars to run with; raises CompanyFileError naming every problem."""
    company = company_from(settings.company_file)
    source = settings.company_file or "the sample company"
    override = settings.sla_policies_override()
    owned = OwnedReference(
        source=source,
        policies=company.sla_policies if override is None else tuple(override),
        calendars=company.calendars,
    )
    policies_path = "sla_policies" if override is None else "MONITORING_SLA_POLICIES_JSON"
    problems = owned_problems(owned, policies_path=policies_path, at=at)
    if problems:
        raise CompanyFileError(source, problems)
    return owned


def owned_problems(
    owned: OwnedReference, *, policies_path: str, at: datetime
) -> list[CompanyProblem]:
    """What the company file checks cannot: calendars a clock could not count in, duplicate
    or dangling policies of an override, targets that do not fit their calendar."""
    problems: list[CompanyProblem] = []
    usable: dict[str, NamedCalendar] = {}
    for i, calendar in enumerate(owned.calendars):
        found = calendars.calendar_problems(calendar)
        problems += [CompanyProblem(f"calendars[{i}].{p.field}", p.message) for p in found]
        if not found:
            usable[calendar.code] = calendar
    refused = {c.code for c in owned.calendars} - set(usable)
    keys: set[str] = set()
    for i, policy in enumerate(owned.policies):
        path = f"{policies_path}[{i}]"
        if policy.policy_key in keys:
            problems.append(CompanyProblem(path, f"duplicate policy {policy.policy_key}"))
        keys.add(policy.policy_key)
        if policy.calendar_code in refused:
            continue  # its calendar's problems are reported already
        found = policy_problems(policy, usable, at=at)
        problems += [CompanyProblem(f"{path}.{p.field}", p.message) for p in found]
    return problems


def policy_problems(
    policy: SlaPolicy, named: dict[str, NamedCalendar], *, at: datetime
) -> list[FieldProblem]:
    """A policy's calendar (named and known, or its own) must be usable, its targets fit it."""
    if policy.calendar_code is not None:
        calendar = named.get(policy.calendar_code)
        if calendar is None:
            return [FieldProblem("calendar_code", f"unknown calendar {policy.calendar_code}")]
        return sla.target_problems(policy, calendar, at=at)
    own = [
        FieldProblem(f"calendar.{problem.field}", problem.message)
        for problem in calendars.calendar_problems(policy.calendar)
    ]
    return own or sla.target_problems(policy, policy.calendar, at=at)


def policy_defined(version: Version[SlaPolicy]) -> SlaPolicyDefined:
    """A version of a policy as the reference topic carries it (a fresh event id: republishing
    lets a broker that lost its topics catch up)."""
    return SlaPolicyDefined(
        producer=PRODUCER,
        entity_key=entity_key(POLICY_KIND, version.key),
        active=version.active,
        changed_by=version.changed_by,
        policy_id=version.key,
        version=version.version,
        effective_from=version.effective_from,
        policy=version.content,
    )


def calendar_defined(version: Version[NamedCalendar]) -> BusinessCalendarDefined:
    return BusinessCalendarDefined(
        producer=PRODUCER,
        entity_key=entity_key(CALENDAR_KIND, version.key),
        active=version.active,
        changed_by=version.changed_by,
        calendar=version.content,
    )


def events_of(
    policies: Sequence[Version[SlaPolicy]], named: Sequence[Version[NamedCalendar]]
) -> list[SlaPolicyDefined | BusinessCalendarDefined]:
    """Calendars first: a consumer learning a policy already knows the calendar it names."""
    return [*map(calendar_defined, named), *map(policy_defined, policies)]
