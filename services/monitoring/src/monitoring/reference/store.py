"""SQL of the reference data monitoring owns: SLA policy and business calendar versions, what
the company file last said of each, and their change history."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from supplychain_contracts.company import NamedCalendar, SlaPolicy

from monitoring.reference.versions import Change, Version


@dataclass(frozen=True)
class ChangeRecord:
    """A stored line of an entity's history (the entity as JSON before and after)."""

    version: int
    changed_by: str
    changed_at: datetime
    before: dict[str, Any] | None
    after: dict[str, Any] | None


# --- reference data: policy and calendar versions, their history ---------------------------


async def lock_reference_data(conn: asyncpg.Connection) -> None:
    """One definition at a time (replicas loading at start, admin changes), to the commit."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('monitoring:reference'))")


def _policy_version(record: asyncpg.Record) -> Version[SlaPolicy]:
    return Version(
        key=record["policy_key"],
        number=record["policy_number"],
        version=record["version"],
        effective_from=record["effective_from"],
        active=record["active"],
        content=SlaPolicy.model_validate_json(record["policy"]),
        changed_by=record["changed_by"],
        changed_at=record["changed_at"],
    )


def _calendar_version(record: asyncpg.Record) -> Version[NamedCalendar]:
    return Version(
        key=record["code"],
        number=record["calendar_number"],
        version=record["version"],
        effective_from=record["effective_from"],
        active=record["active"],
        content=NamedCalendar.model_validate_json(record["calendar"]),
        changed_by=record["changed_by"],
        changed_at=record["changed_at"],
    )


_POLICY_COLUMNS = """policy_key, version, policy_number, effective_from, active, policy::text,
    changed_by, changed_at"""
_CALENDAR_COLUMNS = """code, version, calendar_number, effective_from, active, calendar::text,
    changed_by, changed_at"""


async def policy_versions(
    conn: asyncpg.Connection, *, supplier: str | None = None, key: str | None = None
) -> list[Version[SlaPolicy]]:
    """Every version of the policies that are (or were, in any version) of the supplier, or
    of one policy; all of them without either."""
    rows = await conn.fetch(
        f"""SELECT {_POLICY_COLUMNS} FROM sla_policy_versions
            WHERE ($1::text IS NULL OR policy_key IN (
                      SELECT policy_key FROM sla_policy_versions WHERE supplier = $1))
              AND ($2::text IS NULL OR policy_key = $2)
            ORDER BY policy_number, version""",
        supplier,
        key,
    )
    return [_policy_version(row) for row in rows]


async def calendar_versions(
    conn: asyncpg.Connection, *, code: str | None = None
) -> list[Version[NamedCalendar]]:
    """Every version of one calendar, or of all of them."""
    rows = await conn.fetch(
        f"""SELECT {_CALENDAR_COLUMNS} FROM calendar_versions
            WHERE $1::text IS NULL OR code = $1 ORDER BY calendar_number, version""",
        code,
    )
    return [_calendar_version(row) for row in rows]


async def next_policy_number(conn: asyncpg.Connection) -> int:
    number: int = await conn.fetchval(
        "SELECT COALESCE(max(policy_number), 0) + 1 FROM sla_policy_versions"
    )
    return number


async def next_calendar_number(conn: asyncpg.Connection) -> int:
    number: int = await conn.fetchval(
        "SELECT COALESCE(max(calendar_number), 0) + 1 FROM calendar_versions"
    )
    return number


async def add_policy_version(conn: asyncpg.Connection, version: Version[SlaPolicy]) -> None:
    await conn.execute(
        """INSERT INTO sla_policy_versions (policy_key, version, policy_number, effective_from,
               active, supplier, policy, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9)""",
        version.key,
        version.version,
        version.number,
        version.effective_from,
        version.active,
        version.content.supplier,
        version.content.model_dump_json(),
        version.changed_by,
        version.changed_at,
    )


async def add_calendar_version(conn: asyncpg.Connection, version: Version[NamedCalendar]) -> None:
    await conn.execute(
        """INSERT INTO calendar_versions (code, version, calendar_number, effective_from, active,
               calendar, changed_by, changed_at)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8)""",
        version.key,
        version.version,
        version.number,
        version.effective_from,
        version.active,
        version.content.model_dump_json(),
        version.changed_by,
        version.changed_at,
    )


async def file_policies(conn: asyncpg.Connection) -> dict[str, SlaPolicy]:
    """What the last company file said of each policy (those it had)."""
    rows = await conn.fetch(
        "SELECT policy_key, policy::text FROM sla_policy_file_definitions ORDER BY policy_key"
    )
    return {row["policy_key"]: SlaPolicy.model_validate_json(row["policy"]) for row in rows}


async def file_calendars(conn: asyncpg.Connection) -> dict[str, NamedCalendar]:
    """What the last company file said of each calendar (those it had)."""
    rows = await conn.fetch(
        "SELECT code, calendar::text FROM calendar_file_definitions ORDER BY code"
    )
    return {row["code"]: NamedCalendar.model_validate_json(row["calendar"]) for row in rows}


async def set_file_policy(conn: asyncpg.Connection, key: str, policy: SlaPolicy | None) -> None:
    """Keep what the company file says of a policy (None: it is not in the file)."""
    if policy is None:
        await conn.execute("DELETE FROM sla_policy_file_definitions WHERE policy_key = $1", key)
        return
    await conn.execute(
        """INSERT INTO sla_policy_file_definitions (policy_key, policy) VALUES ($1, $2::jsonb)
           ON CONFLICT (policy_key) DO UPDATE SET policy = EXCLUDED.policy""",
        key,
        policy.model_dump_json(),
    )


async def set_file_calendar(
    conn: asyncpg.Connection, code: str, calendar: NamedCalendar | None
) -> None:
    """Keep what the company file says of a calendar (None: it is not in the file)."""
    if calendar is None:
        await conn.execute("DELETE FROM calendar_file_definitions WHERE code = $1", code)
        return
    await conn.execute(
        """INSERT INTO calendar_file_definitions (code, calendar) VALUES ($1, $2::jsonb)
           ON CONFLICT (code) DO UPDATE SET calendar = EXCLUDED.calendar""",
        code,
        calendar.model_dump_json(),
    )


async def record_change(
    conn: asyncpg.Connection, entity_key: str, change: Change[SlaPolicy] | Change[NamedCalendar]
) -> None:
    await conn.execute(
        """INSERT INTO reference_changes (entity_key, version, changed_by, changed_at, before,
               after)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)""",
        entity_key,
        change.version,
        change.changed_by,
        change.changed_at,
        None if change.before is None else change.before.model_dump_json(),
        None if change.after is None else change.after.model_dump_json(),
    )


async def changes(conn: asyncpg.Connection, entity_key: str) -> list[ChangeRecord]:
    """The history of one entity, oldest first; before and after as stored (JSON)."""
    rows = await conn.fetch(
        """SELECT version, changed_by, changed_at, before::text, after::text
           FROM reference_changes WHERE entity_key = $1 ORDER BY change_id""",
        entity_key,
    )
    return [
        ChangeRecord(
            version=row["version"],
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
            before=None if row["before"] is None else json.loads(row["before"]),
            after=None if row["after"] is None else json.loads(row["after"]),
        )
        for row in rows
    ]


async def copy_reference_data(conn: asyncpg.Connection, *, from_schema: str) -> None:
    """The policy and calendar versions of another schema (the live one, into a replay's)."""
    for table in ("sla_policy_versions", "calendar_versions"):
        await conn.execute(f'INSERT INTO {table} SELECT * FROM "{from_schema}".{table}')
