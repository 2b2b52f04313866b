"""SQL of the reference data order intake owns: legal entities, departments, the catalogue,
employees and exchange rates (each row: typed columns for placing orders, its definition, whether it is active,
what the company file said of it, who changed it), and their history."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
from supplychain_contracts.company import (
    CatalogueItem,
    Department,
    Employee,
    FxRate,
    LegalEntity,
)

from order_intake.company import (
    CATALOGUE,
    DEPARTMENTS,
    EMPLOYEES,
    FX_RATES,
    LEGAL_ENTITIES,
    Change,
    Entity,
    Kind,
    Revision,
    Standing,
)

_COMMON = ("definition", "file_definition", "active", "changed_by", "changed_at")


@dataclass(frozen=True)
class _Table:
    """Where one kind of entity is kept: its typed columns (the key first) and their values."""

    name: str
    columns: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]

    @property
    def key(self) -> str:
        return self.columns[0]

    @property
    def upsert(self) -> str:
        columns = (*self.columns, *_COMMON)
        placeholders = ", ".join(
            f"${n}::jsonb" if name.endswith("definition") or name == "components" else f"${n}"
            for n, name in enumerate(columns, start=1)
        )
        updates = ", ".join(f"{name} = EXCLUDED.{name}" for name in columns[1:])
        return (
            f"INSERT INTO {self.name} ({', '.join(columns)}) VALUES ({placeholders}) "
            f"ON CONFLICT ({self.key}) DO UPDATE SET {updates}"
        )


def _legal_entity(entity: LegalEntity) -> tuple[Any, ...]:
    return (entity.code, entity.name, entity.currency)


def _department(d: Department) -> tuple[Any, ...]:
    return (
        d.code,
        d.name,
        d.legal_entity,
        d.cost_centre,
        d.monthly_budget,
        d.approval_threshold,
        d.over_budget,
        d.employee_shop,
        d.employee_discount_pct,
    )


def _item(i: CatalogueItem) -> tuple[Any, ...]:
    components = json.dumps([c.model_dump() for c in i.bill_of_materials])
    return (
        i.sku,
        i.name,
        i.supplier,
        i.unit,
        i.standard_cost,
        i.transfer_price,
        i.list_price,
        i.lead_time_days,
        components,
    )


def _employee(e: Employee) -> tuple[Any, ...]:
    return (e.employee_id, e.name, e.department, e.yearly_allowance)


def _fx_rate(r: FxRate) -> tuple[Any, ...]:
    return (r.key, r.base, r.quote, r.rate, r.valid_from)


_TABLES: dict[str, _Table] = {
    LEGAL_ENTITIES.name: _Table("legal_entities", ("code", "name", "currency"), _legal_entity),
    DEPARTMENTS.name: _Table(
        "departments",
        (
            "code",
            "name",
            "legal_entity",
            "cost_centre",
            "monthly_budget",
            "approval_threshold",
            "over_budget",
            "employee_shop",
            "employee_discount_pct",
        ),
        _department,
    ),
    CATALOGUE.name: _Table(
        "catalogue",
        (
            "sku",
            "name",
            "supplier",
            "unit",
            "standard_cost",
            "transfer_price",
            "list_price",
            "lead_time_days",
            "components",
        ),
        _item,
    ),
    EMPLOYEES.name: _Table(
        "employees", ("employee_id", "name", "department", "yearly_allowance"), _employee
    ),
    FX_RATES.name: _Table(
        "fx_rates", ("rate_key", "base", "quote", "rate", "valid_from"), _fx_rate
    ),
}


async def lock_reference_data(conn: asyncpg.Connection) -> None:
    """One load or definition at a time (replicas loading at start, admin changes), to the
    commit: each sees what the one before it committed."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('order_intake:reference'))")


async def standings(
    conn: asyncpg.Connection, kind: Kind[Entity], *, key: str | None = None
) -> dict[str, Standing[Entity]]:
    """Every entity of a kind (or the one named `key`) by key, in key order."""
    table = _TABLES[kind.name]
    rows = await conn.fetch(
        f"""SELECT {table.key} AS key, definition::text, file_definition::text, active,
                   changed_by, changed_at
            FROM {table.name} WHERE $1::text IS NULL OR {table.key} = $1 ORDER BY {table.key}""",
        key,
    )
    return {
        row["key"]: Standing(
            definition=kind.model.model_validate_json(row["definition"]),
            active=row["active"],
            file_definition=None
            if row["file_definition"] is None
            else kind.model.model_validate_json(row["file_definition"]),
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
        )
        for row in rows
    }


def _json(entity: Entity | None) -> str | None:
    return None if entity is None else entity.model_dump_json()


async def save(
    conn: asyncpg.Connection, kind: Kind[Entity], revisions: Sequence[Revision[Entity]]
) -> None:
    """Store the entities as revised, and the history line of each that changed."""
    if not revisions:
        return
    table = _TABLES[kind.name]
    rows: list[tuple[Any, ...]] = []
    for revision in revisions:
        standing = revision.standing
        typed: tuple[Any, ...] = table.values(standing.definition)
        rows.append(
            (
                *typed,
                standing.definition.model_dump_json(),
                _json(standing.file_definition),
                standing.active,
                standing.changed_by,
                standing.changed_at,
            )
        )
    await conn.executemany(table.upsert, rows)
    changed = [(r.key, r.change) for r in revisions if r.change is not None]
    if not changed:
        return
    await conn.executemany(
        """INSERT INTO reference_changes (entity_key, changed_by, changed_at, before, after)
           VALUES ($1, $2, $3, $4::jsonb, $5::jsonb)""",
        [
            (kind.entity_key(key), c.changed_by, c.changed_at, _json(c.before), _json(c.after))
            for key, c in changed
        ],
    )


async def changes(
    conn: asyncpg.Connection, kind: Kind[Entity], key: str, *, prefix: bool = False
) -> list[Change[Entity]]:
    """An entity's history, oldest first; with `prefix`, the history of every entity whose
    key starts with `key` (an exchange rate's pair: `USD-EUR:`)."""
    entity_key = kind.entity_key(key)
    rows = await conn.fetch(
        """SELECT changed_by, changed_at, before::text, after::text FROM reference_changes
           WHERE CASE WHEN $2 THEN starts_with(entity_key, $1) ELSE entity_key = $1 END
           ORDER BY change_id""",
        entity_key,
        prefix,
    )

    def entity(text: str | None) -> Entity | None:
        return None if text is None else kind.model.model_validate_json(text)

    return [
        Change(
            changed_by=row["changed_by"],
            changed_at=row["changed_at"],
            before=entity(row["before"]),
            after=entity(row["after"]),
        )
        for row in rows
    ]
