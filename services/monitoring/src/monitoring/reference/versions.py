"""Versions of the reference data monitoring owns (pure): SLA policies and business calendars.

An entity (a policy by its key, a calendar by its code) is a list of versions. A version
applies from its `effective_from`; at any instant the latest version (by number) that is
effective then is in force, unless it is inactive (the entity was removed: never deleted, so
history and replay keep it). A definition that changes nothing makes no version.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Generic, TypeVar

from supplychain_contracts.company import NamedCalendar, SlaPolicy

# The versions of a first load are in force since ever: the company had these service levels
# before the platform saw its first event (a replay or a late event is timed by them too).
SINCE_EVER = datetime(1970, 1, 1, tzinfo=UTC)

Content = TypeVar("Content", SlaPolicy, NamedCalendar)


@dataclass(frozen=True)
class Version(Generic[Content]):
    key: str  # the policy's key ("ASSEMBLY:rush"), the calendar's code
    number: int  # stable per entity, in the order entities were first defined
    version: int
    effective_from: datetime
    active: bool
    content: Content
    changed_by: str
    changed_at: datetime


@dataclass(frozen=True)
class Change(Generic[Content]):
    """One line of an entity's history: `before` and `after` are None where it did not exist
    (created, removed)."""

    key: str
    version: int
    changed_by: str
    changed_at: datetime
    before: Content | None
    after: Content | None


def latest(versions: Iterable[Version[Content]]) -> dict[str, Version[Content]]:
    """The latest version of each entity, whatever its effective time."""
    found: dict[str, Version[Content]] = {}
    for version in versions:
        known = found.get(version.key)
        if known is None or version.version > known.version:
            found[version.key] = version
    return found


def in_force(versions: Iterable[Version[Content]], at: datetime) -> list[Version[Content]]:
    """The active version of each entity in force at `at`, in the order entities were defined."""
    effective = latest(v for v in versions if v.effective_from <= at)
    return sorted((v for v in effective.values() if v.active), key=lambda v: v.number)


def current(versions: Iterable[Version[Content]], at: datetime) -> list[Version[Content]]:
    """What stands for each entity at `at`: the version in force (active or not) and any
    defined after it, in version order; what an owner republishes."""
    listed = sorted(versions, key=lambda v: (v.number, v.version))
    effective = latest(v for v in listed if v.effective_from <= at)
    return [v for v in listed if v.key not in effective or v.version >= effective[v.key].version]


def next_version(
    previous: Version[Content] | None,
    content: Content | None,
    *,
    key: str,
    number: int,
    effective_from: datetime,
    changed_by: str,
    changed_at: datetime,
) -> Version[Content] | None:
    """The version a definition makes (`content` None: the entity was removed); None when
    nothing changes: the same content already in force by `effective_from`, or removing
    what is already inactive."""
    if content is None:
        if previous is None or not previous.active:
            return None
        return Version(
            key=key,
            number=previous.number,
            version=previous.version + 1,
            effective_from=effective_from,
            active=False,
            content=previous.content,
            changed_by=changed_by,
            changed_at=changed_at,
        )
    if (
        previous is not None
        and previous.active
        and previous.content == content
        and previous.effective_from <= effective_from
    ):
        return None
    return Version(
        key=key,
        number=previous.number if previous is not None else number,
        version=previous.version + 1 if previous is not None else 1,
        effective_from=effective_from,
        active=True,
        content=content,
        changed_by=changed_by,
        changed_at=changed_at,
    )


def file_definitions(
    last_file: Mapping[str, Content], wanted: Mapping[str, Content]
) -> dict[str, Content | None]:
    """What a company file listing `wanted` defines, by key, in its order: what it says
    otherwise than the last file did (or the last file had not), then None (removed) for what
    the last file had and this one has not. What it says as the last file did is left as it
    stands (an administrator's change stays)."""
    defined: dict[str, Content | None] = {
        key: content for key, content in wanted.items() if last_file.get(key) != content
    }
    defined.update({key: None for key in last_file if key not in wanted})
    return defined


def change_of(previous: Version[Content] | None, made: Version[Content]) -> Change[Content]:
    """The history line of a new version."""
    before = previous.content if previous is not None and previous.active else None
    return Change(
        key=made.key,
        version=made.version,
        changed_by=made.changed_by,
        changed_at=made.changed_at,
        before=before,
        after=made.content if made.active else None,
    )
