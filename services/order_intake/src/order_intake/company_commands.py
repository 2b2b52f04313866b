"""Define the reference data order intake owns: one transaction each, entities + history +
reference events (outbox).

The load at start makes the stored company the company file's (all or nothing, idempotent:
only what the file changed is changed, what it no longer has is deactivated) and republishes
every entity; an administrator defines one entity at a time. A refused definition raises
InvalidDefinition, each problem named by its field; the routes answer it as a problem document.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
from supplychain_contracts.company import Company, FieldProblem, InvalidDefinition
from supplychain_kit.messaging import reference

from order_intake import company_store
from order_intake.company import (
    KINDS,
    Entity,
    Kind,
    admin_revision,
    announcement,
    current_company,
    definition_problems,
    file_revisions,
)


@dataclass(frozen=True)
class Loaded:
    """What a load at start did: the entities it changed (history lines), the reference
    events it (re)published."""

    changed: int
    published: int


@dataclass(frozen=True)
class Defined:
    """What an administrator's definition did: `created` the entity, or `changed` it (neither:
    it was already so)."""

    key: str
    created: bool
    changed: bool


async def load_company(
    conn: asyncpg.Connection, company: Company | None, *, now: datetime | None = None
) -> Loaded:
    """Make the stored entities the company's (a company already validated: see
    `company.owned_company`; None keeps them as they are) and publish every entity, active
    and deactivated, with fresh event ids: a broker that lost its topics catches up."""
    now = now or datetime.now(UTC)
    changed = 0
    async with conn.transaction():
        await company_store.lock_reference_data(conn)
        if company is not None:
            for kind in KINDS:
                existing = await company_store.standings(conn, kind)
                revisions = file_revisions(kind, existing, kind.of(company), now=now)
                await company_store.save(conn, kind, revisions)
                changed += sum(revision.change is not None for revision in revisions)
        events = [
            announcement(kind, standing)
            for kind in KINDS
            for standing in (await company_store.standings(conn, kind)).values()
        ]
        await reference.publish(conn, events)
    return Loaded(changed=changed, published=len(events))


async def _current_company(conn: asyncpg.Connection) -> Company:
    active: dict[str, list[Any]] = {}
    for kind in KINDS:
        standings = await company_store.standings(conn, kind)
        active[kind.name] = [s.definition for s in standings.values() if s.active]
    return current_company(active)


async def define(
    conn: asyncpg.Connection,
    kind: Kind[Entity],
    key: str,
    definition: Entity,
    *,
    changed_by: str,
    now: datetime | None = None,
) -> Defined:
    """An administrator defines the entity `key` of a kind (creates, changes, or brings back a
    removed one). Refused (InvalidDefinition) when the definition names another key, or
    would break the company as it stands: a reference to an entity it does not have (or no
    longer has), a cycle of bills of materials, a value order intake cannot keep."""
    if kind.key(definition) != key:
        raise InvalidDefinition([FieldProblem(kind.key_field, f"must be {key}, as in the path")])
    now = now or datetime.now(UTC)
    async with conn.transaction():
        await company_store.lock_reference_data(conn)
        problems = definition_problems(await _current_company(conn), kind, definition)
        if problems:
            raise InvalidDefinition(problems)
        previous = (await company_store.standings(conn, kind, key=key)).get(key)
        revision = admin_revision(key, previous, definition, changed_by=changed_by, now=now)
        if revision is not None:
            await company_store.save(conn, kind, [revision])
            await reference.publish(conn, [announcement(kind, revision.standing)])
    return Defined(key=key, created=previous is None, changed=revision is not None)
