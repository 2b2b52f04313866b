"""Define the reference data monitoring owns: one transaction each, versions + history + outbox.

The load at start defines the policies and calendars of the company file at once (all or
nothing, idempotent): only what the file changed since the last load makes a version, what the
last file had and this one has not is deactivated, an administrator's change otherwise stands
(what the last file said of each entity is kept beside it); it republishes what stands; an administrator defines one policy or calendar at a time. Refusals are raised as
InvalidDefinition, each problem named by its field; the routes answer them as problem documents.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic

import asyncpg
from supplychain_contracts.company import FieldProblem, InvalidDefinition, NamedCalendar, SlaPolicy
from supplychain_contracts.reference import entity_key
from supplychain_kit.messaging import reference

from monitoring.reference import calendars, company, store, versions
from monitoring.reference.company import CALENDAR_KIND, POLICY_KIND, OwnedReference
from monitoring.reference.versions import Content, Version
from monitoring.sla import rules as sla


@dataclass(frozen=True)
class Defined(Generic[Content]):
    """What a definition did: `created` the entity, and the version it made (None: the same
    definition was already in force)."""

    key: str
    created: bool
    version: Version[Content] | None


@dataclass(frozen=True)
class Loaded:
    """What a load at start did: the versions it made, the events it (re)published."""

    policy_versions: tuple[Version[SlaPolicy], ...]
    calendar_versions: tuple[Version[NamedCalendar], ...]
    published: int


@dataclass(frozen=True)
class _Kind(Generic[Content]):
    """Where versions of one kind of entity are stored, and what the last file said of it."""

    name: str  # the kind in entity keys: sla_policy, calendar
    add: Callable[[asyncpg.Connection, Version[Content]], Awaitable[None]]
    file_definitions: Callable[[asyncpg.Connection], Awaitable[dict[str, Content]]]
    set_file_definition: Callable[[asyncpg.Connection, str, Content | None], Awaitable[None]]


POLICIES: _Kind[SlaPolicy] = _Kind(
    POLICY_KIND, store.add_policy_version, store.file_policies, store.set_file_policy
)
CALENDARS: _Kind[NamedCalendar] = _Kind(
    CALENDAR_KIND, store.add_calendar_version, store.file_calendars, store.set_file_calendar
)


async def _define(
    conn: asyncpg.Connection,
    kind: _Kind[Content],
    previous: Version[Content] | None,
    content: Content | None,
    *,
    key: str,
    number: int,
    effective_from: datetime,
    changed_by: str,
    now: datetime,
) -> Version[Content] | None:
    """Store the version the definition makes, with its history line; None if none."""
    made = versions.next_version(
        previous,
        content,
        key=key,
        number=number,
        effective_from=effective_from,
        changed_by=changed_by,
        changed_at=now,
    )
    if made is not None:
        await kind.add(conn, made)
        await store.record_change(
            conn, entity_key(kind.name, key), versions.change_of(previous, made)
        )
    return made


async def _define_all(
    conn: asyncpg.Connection,
    kind: _Kind[Content],
    existing: Sequence[Version[Content]],
    wanted: Mapping[str, Content],
    *,
    now: datetime,
) -> list[Version[Content]]:
    """Define what the company file (`wanted`, in its order) changed since the last load: a
    version effective now where the entity is not so already, and deactivate what the last
    file had and this one has not. What the file says as before stands as it is (an
    administrator's change stays, as does an entity only an administrator defined). On a
    first load (nothing defined yet) the versions are in force since ever."""
    previous = versions.latest(existing)
    effective_from = now if previous else versions.SINCE_EVER
    number = max((v.number for v in previous.values()), default=0) + 1
    made: list[Version[Content] | None] = []
    for key, content in versions.file_definitions(
        await kind.file_definitions(conn), wanted
    ).items():
        known = previous.get(key)
        made.append(
            await _define(
                conn,
                kind,
                known,
                content,
                key=key,
                number=known.number if known is not None else number,
                effective_from=effective_from,
                changed_by=company.FROM_COMPANY_FILE,
                now=now,
            )
        )
        number += known is None
        await kind.set_file_definition(conn, key, content)
    return [version for version in made if version is not None]


async def load_owned_reference(
    conn: asyncpg.Connection, owned: OwnedReference, *, now: datetime
) -> Loaded:
    """Define what the company (validated: `company.owned_reference`) changed since the last
    load, calendars first, and publish, with fresh event ids, every version that stands now or later."""
    async with conn.transaction():
        await store.lock_reference_data(conn)
        calendars_made = await _define_all(
            conn,
            CALENDARS,
            await store.calendar_versions(conn),
            {calendar.code: calendar for calendar in owned.calendars},
            now=now,
        )
        policies_made = await _define_all(
            conn,
            POLICIES,
            await store.policy_versions(conn),
            {p.policy_key: company.canonical_policy(p, p.policy_key) for p in owned.policies},
            now=now,
        )
        events = company.events_of(
            versions.current(await store.policy_versions(conn), now),
            versions.current(await store.calendar_versions(conn), now),
        )
        await reference.publish(conn, events)
    return Loaded(
        policy_versions=tuple(policies_made),
        calendar_versions=tuple(calendars_made),
        published=len(events),
    )


def _effective(effective_from: datetime | None, now: datetime) -> datetime:
    """A version applies from now, or from a later instant; never to stages already started."""
    if effective_from is not None and effective_from < now:
        raise InvalidDefinition(
            [
                FieldProblem(
                    "effective_from",
                    "must not be in the past: a version applies to stages that start after it "
                    "(omit it to apply from now)",
                )
            ]
        )
    return effective_from or now


async def define_policy(
    conn: asyncpg.Connection,
    key: str,
    policy: SlaPolicy,
    *,
    effective_from: datetime | None,
    changed_by: str,
    now: datetime,
) -> Defined[SlaPolicy]:
    """Define the policy `key` as an administrator. Its departments are not checked: monitoring
    does not own departments (a policy of a department still to come is fine)."""
    effective = _effective(effective_from, now)
    if policy.id is not None and policy.id != key:
        raise InvalidDefinition(
            [FieldProblem("id", f"the policy's id is not {key}, as in the path")]
        )
    async with conn.transaction():
        await store.lock_reference_data(conn)
        named = versions.latest(await store.calendar_versions(conn))
        usable = {code: v.content for code, v in named.items() if v.active}
        problems = company.policy_problems(policy, usable, at=effective)
        if problems:
            raise InvalidDefinition(problems)
        previous = versions.latest(await store.policy_versions(conn, key=key)).get(key)
        number = previous.number if previous else await store.next_policy_number(conn)
        made = await _define(
            conn,
            POLICIES,
            previous,
            company.canonical_policy(policy, key),
            key=key,
            number=number,
            effective_from=effective,
            changed_by=changed_by,
            now=now,
        )
        if made is not None:
            await reference.publish(conn, [company.policy_defined(made)])
    return Defined(key=key, created=previous is None, version=made)


async def define_calendar(
    conn: asyncpg.Connection,
    code: str,
    calendar: NamedCalendar,
    *,
    effective_from: datetime | None,
    changed_by: str,
    now: datetime,
) -> Defined[NamedCalendar]:
    """Define the named calendar `code` as an administrator; refused when a clock could not
    count in it, for itself or for a policy that names it."""
    effective = _effective(effective_from, now)
    if calendar.code != code:
        raise InvalidDefinition(
            [FieldProblem("code", f"the calendar's code is not {code}, as in the path")]
        )
    problems = calendars.calendar_problems(calendar)
    if problems:
        raise InvalidDefinition(problems)
    async with conn.transaction():
        await store.lock_reference_data(conn)
        naming = [
            v
            for v in versions.latest(await store.policy_versions(conn)).values()
            if v.active and v.content.calendar_code == calendar.code
        ]
        problems = [
            FieldProblem(problem.field, f"policy {v.key}: {problem.message}")
            for v in naming
            for problem in sla.target_problems(v.content, calendar, at=effective)
        ]
        if problems:
            raise InvalidDefinition(problems)
        previous = versions.latest(await store.calendar_versions(conn, code=calendar.code))
        known = previous.get(calendar.code)
        number = known.number if known else await store.next_calendar_number(conn)
        made = await _define(
            conn,
            CALENDARS,
            known,
            calendar,
            key=calendar.code,
            number=number,
            effective_from=effective,
            changed_by=changed_by,
            now=now,
        )
        if made is not None:
            await reference.publish(conn, [company.calendar_defined(made)])
    return Defined(key=calendar.code, created=known is None, version=made)
