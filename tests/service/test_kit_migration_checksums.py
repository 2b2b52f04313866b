"""Migrations keep a checksum per applied file: a file changed after it was applied is
refused at start, naming the file, instead of being skipped; a database migrated before
checksums were kept gets them recorded on its first start."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from supplychain_kit import db


@pytest.fixture
async def pool(database: Any) -> AsyncIterator[asyncpg.Pool]:
    opened = await db.create_pool(database.new_database(), schema="checked", max_size=2)
    try:
        yield opened
    finally:
        await opened.close()


def _migrations(folder: Path) -> list[Path]:
    folder.mkdir(exist_ok=True)
    (folder / "0000_parts.sql").write_text("CREATE TABLE parts (sku text PRIMARY KEY);\n")
    (folder / "0001_stock.sql").write_text("CREATE TABLE stock (sku text, quantity int);\n")
    return sorted(folder.iterdir())


async def _tables(pool: asyncpg.Pool) -> set[str]:
    rows = await pool.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'checked'"
    )
    return {row["table_name"] for row in rows}


async def test_a_changed_applied_migration_is_refused_naming_the_file(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    files = _migrations(tmp_path / "migrations")
    assert await db.migrate(pool, schema="checked", files=files) == [
        "0000_parts.sql",
        "0001_stock.sql",
    ]
    # an unchanged rerun applies nothing and is not refused
    assert await db.migrate(pool, schema="checked", files=files) == []

    files[1].write_text("CREATE TABLE stock (sku text, quantity bigint);\n")
    added = tmp_path / "migrations" / "0002_bins.sql"
    added.write_text("CREATE TABLE bins (code text);\n")
    with pytest.raises(db.MigrationChanged) as refused:
        await db.migrate(pool, schema="checked", files=[*files, added])

    message = str(refused.value)
    assert str(files[1]) in message and "0000_parts.sql" not in message
    assert "schema checked" in message and "new migration" in message
    assert "bins" not in await _tables(pool)  # refused before anything was applied
    # restoring the file lets the service start again, and the new file is applied
    files[1].write_text("CREATE TABLE stock (sku text, quantity int);\n")
    assert await db.migrate(pool, schema="checked", files=[*files, added]) == ["0002_bins.sql"]


async def test_a_database_migrated_before_checksums_records_them_on_first_start(
    pool: asyncpg.Pool, tmp_path: Path
) -> None:
    files = _migrations(tmp_path / "migrations")
    async with pool.acquire() as conn:  # what the runner without checksums left behind
        await conn.execute(
            """CREATE TABLE schema_migrations (
                   name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        for file in files:
            await conn.execute(file.read_text())
            await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", file.name)

    assert await db.migrate(pool, schema="checked", files=files) == []
    recorded = dict(await pool.fetch("SELECT name, checksum FROM schema_migrations"))
    assert recorded == {file.name: db.checksum(file) for file in files}

    files[0].write_text("CREATE TABLE parts (sku text PRIMARY KEY, name text);\n")
    with pytest.raises(db.MigrationChanged, match=re.escape("0000_parts.sql")):
        await db.migrate(pool, schema="checked", files=files)


async def test_the_kit_and_service_migrations_are_checked_the_same_way(
    pool: asyncpg.Pool,
) -> None:
    files = db.kit_migrations() + db.package_migrations("fulfilment")
    await db.migrate(pool, schema="checked", files=files)
    recorded = dict(await pool.fetch("SELECT name, checksum FROM schema_migrations"))
    assert recorded == {file.name: db.checksum(file) for file in files}
    # as if the shipped kit file had been edited after this database applied it
    await pool.execute(
        "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE name = $1",
        files[0].name,
    )
    with pytest.raises(db.MigrationChanged, match=re.escape(files[0].name)):
        await db.migrate(pool, schema="checked", files=files)
