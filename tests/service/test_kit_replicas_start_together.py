"""Replicas of a service starting at the same moment on a fresh database: one makes the
schema and applies the migrations, the others wait and find them applied (found starting two
replicas of each service for the failover tests: CREATE ... IF NOT EXISTS of two sessions at
once fails with a unique violation in the catalogue)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
from supplychain_kit import db

REPLICAS = 6


async def test_replicas_starting_together_make_the_schema_and_migrate_once(
    database: Any, tmp_path: Path
) -> None:
    url = database.new_database()
    files = [tmp_path / "0000_parts.sql", tmp_path / "0001_stock.sql"]
    files[0].write_text("CREATE TABLE parts (sku text PRIMARY KEY);\n")
    files[1].write_text("CREATE TABLE stock (sku text, quantity int);\n")

    async def start() -> list[str]:
        pool = await db.create_pool(url, schema="together", max_size=1)
        try:
            return await db.migrate(pool, schema="together", files=files)
        finally:
            await pool.close()

    applied = await asyncio.gather(*(start() for _ in range(REPLICAS)))
    assert sorted(applied, key=len) == [[]] * (REPLICAS - 1) + [
        ["0000_parts.sql", "0001_stock.sql"]
    ]
    conn = await asyncpg.connect(url)
    try:
        names = await conn.fetch("SELECT name FROM together.schema_migrations ORDER BY name")
    finally:
        await conn.close()
    assert [row["name"] for row in names] == ["0000_parts.sql", "0001_stock.sql"]
