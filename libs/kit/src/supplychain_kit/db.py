"""asyncpg pool per service schema, and versioned plain-SQL migrations."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
Connection = asyncpg.Connection


async def create_pool(database_url: str, *, schema: str, max_size: int = 10) -> asyncpg.Pool:
    """A pool whose connections see `schema` first: a service never names another's tables."""
    await ensure_schema(database_url, schema=schema)
    pool = await asyncpg.create_pool(
        database_url,
        min_size=1,
        max_size=max_size,
        server_settings={"search_path": schema, "application_name": schema},
        command_timeout=30,
        reset=_keep_session,
    )
    assert pool is not None
    return pool


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection without asyncpg's default reset query (advisory unlock all,
    CLOSE ALL, UNLISTEN *, RESET ALL): a round trip on every release, for session state the
    services never leave behind (transaction-scoped locks, no SET, the relay's LISTEN
    connection is held for good). An open transaction is still rolled back by the pool."""


async def ensure_schema(database_url: str, *, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    finally:
        await conn.close()


def _sql_files(folder: Traversable) -> list[Traversable]:
    return sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )


def kit_migrations() -> list[Traversable]:
    """The outbox and inbox tables every service has."""
    return _sql_files(resources.files("supplychain_kit").joinpath("sql"))


def package_migrations(package: str) -> list[Traversable]:
    return _sql_files(resources.files(package).joinpath("migrations"))


async def migrate(pool: asyncpg.Pool, *, schema: str, files: Iterable[Traversable]) -> list[str]:
    """Apply the files not yet applied, in order, each in its own transaction.

    An advisory lock keyed on the schema makes concurrent replicas apply them once.
    """
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", schema)
        try:
            done = {row["name"] for row in await conn.fetch("SELECT name FROM schema_migrations")}
            for file in files:
                if file.name in done:
                    continue
                async with conn.transaction():
                    await conn.execute(file.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (name) VALUES ($1)", file.name
                    )
                applied_now.append(file.name)
                log.info("applied migration %s to schema %s", file.name, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", schema)
    return applied_now
