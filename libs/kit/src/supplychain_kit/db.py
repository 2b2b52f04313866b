"""asyncpg pool per service schema, and versioned plain-SQL migrations."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

import asyncpg

log = logging.getLogger(__name__)

Pool = asyncpg.Pool
Connection = asyncpg.Connection


async def create_pool(
    database_url: str,
    *,
    schema: str,
    max_size: int = 10,
    min_size: int = 1,
    statement_timeout_ms: int | None = None,
    idle_in_transaction_timeout_ms: int | None = None,
    transaction_timeout_ms: int | None = None,
    application_name: str | None = None,
    ensure: bool = True,
) -> asyncpg.Pool:
    """A pool whose connections see `schema` first: a service never names another's tables.

    `statement_timeout_ms`, `idle_in_transaction_timeout_ms` and `transaction_timeout_ms`
    are the server's limits of each connection (statement_timeout,
    idle_in_transaction_session_timeout, transaction_timeout): a statement or a transaction
    left waiting is ended by PostgreSQL, whatever the client does. A client frozen between
    the messages of one query leaves its transaction `active`, which only the transaction
    limit ends (PostgreSQL 17 and later; older servers go without it)."""
    if ensure:
        await ensure_schema(database_url, schema=schema)
    server_settings = {"search_path": schema, "application_name": application_name or schema}
    if statement_timeout_ms is not None:
        server_settings["statement_timeout"] = str(statement_timeout_ms)
    if idle_in_transaction_timeout_ms is not None:
        server_settings["idle_in_transaction_session_timeout"] = str(idle_in_transaction_timeout_ms)
    pool = await asyncpg.create_pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        server_settings=server_settings,
        # the client's own limit, past the server's statement timeout when there is one
        command_timeout=max(30.0, (statement_timeout_ms or 0) / 1000 + 5),
        reset=_keep_session,
        init=_transaction_limit(transaction_timeout_ms) if transaction_timeout_ms else None,
    )
    assert pool is not None
    return pool


class PoolExhausted(Exception):
    """No connection of a pool was free within its acquire timeout (answered 503)."""

    def __init__(self, pool: str, *, waited_s: float, retry_after_s: int) -> None:
        super().__init__(f"no {pool} connection free within {waited_s:g} s")
        self.pool = pool
        self.waited_s = waited_s
        self.retry_after_s = retry_after_s


@dataclass
class GuardedPool:
    """A pool whose callers wait at most `acquire_timeout_s` for a connection, then get
    PoolExhausted instead of a hang (HTTP requests and exports; the consumer, the relay and
    the clocks have a pool of their own that no caller can take)."""

    name: str
    pool: asyncpg.Pool
    acquire_timeout_s: float
    retry_after_s: int = 2

    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[asyncpg.Connection]:
        try:
            conn = await self.pool.acquire(timeout=self.acquire_timeout_s)
        except TimeoutError as waited:
            raise PoolExhausted(
                self.name, waited_s=self.acquire_timeout_s, retry_after_s=self.retry_after_s
            ) from waited
        try:
            yield conn
        finally:
            await self.pool.release(conn)

    async def close(self) -> None:
        await self.pool.close()


TRANSACTION_TIMEOUT_SINCE = (17, 0)  # the server version that has transaction_timeout


def has_transaction_timeout(conn: asyncpg.Connection) -> bool:
    return tuple(conn.get_server_version()[:2]) >= TRANSACTION_TIMEOUT_SINCE


def _transaction_limit(timeout_ms: int) -> Callable[[asyncpg.Connection], Awaitable[None]]:
    """A pool's `init`: each new connection's transactions last at most `timeout_ms`."""

    async def limit(conn: asyncpg.Connection) -> None:
        if has_transaction_timeout(conn):
            await conn.execute(f"SET transaction_timeout = {int(timeout_ms)}")

    return limit


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Release a connection without asyncpg's default reset query (advisory unlock all,
    CLOSE ALL, UNLISTEN *, RESET ALL): a round trip on every release, for session state the
    services never leave behind (transaction-scoped locks, no SET, the relay's LISTEN
    connection is held for good). An open transaction is still rolled back by the pool."""


async def ensure_schema(database_url: str, *, schema: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        # IF NOT EXISTS does not hold against a concurrent CREATE (replicas starting
        # together: a unique violation in pg_namespace), so one at a time
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"schema:{schema}")
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


class MigrationChanged(RuntimeError):
    """An applied migration's file no longer reads as it did when it was applied."""


def checksum(file: Traversable) -> str:
    """sha256 of a migration file's text as applied."""
    return hashlib.sha256(file.read_text(encoding="utf-8").encode()).hexdigest()


AMENDS = re.compile(r"^-- amends checksum ([0-9a-f]{64})\s*$", re.M)


def amended_checksums(file: Traversable) -> set[str]:
    """The checksums of earlier texts of an amended migration, declared in the file itself by
    lines `-- amends checksum <sha256>`. A database that applied an earlier text is not
    refused: the amendment does not run there again (it cannot: the file ran), its recorded
    checksum becomes the new text's, and the amendment says why that is safe."""
    return set(AMENDS.findall(file.read_text(encoding="utf-8")))


async def migrate(pool: asyncpg.Pool, *, schema: str, files: Iterable[Traversable]) -> list[str]:
    """Apply the files not yet applied, in order, each in its own transaction.

    An advisory lock keyed on the schema makes concurrent replicas apply them once. Each
    applied file's checksum is kept: a file changed after it was applied is refused
    (MigrationChanged) before anything is applied, instead of being skipped silently. Rows
    applied before checksums were kept get the file's checksum on this first start.
    """
    files = list(files)
    applied_now: list[str] = []
    async with pool.acquire() as conn:
        # locked before the bookkeeping table is made: CREATE TABLE IF NOT EXISTS of two
        # replicas starting together would collide (a unique violation in pg_type)
        await conn.execute("SELECT pg_advisory_lock(hashtext($1))", schema)
        try:
            await conn.execute(
                """CREATE TABLE IF NOT EXISTS schema_migrations (
                       name text PRIMARY KEY,
                       applied_at timestamptz NOT NULL DEFAULT now());
                   ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"""
            )
            done = await _verify_applied(conn, schema=schema, files=files)
            for file in files:
                if file.name in done:
                    continue
                async with conn.transaction():
                    if has_transaction_timeout(conn):  # a migration takes as long as it takes
                        await conn.execute("SET LOCAL transaction_timeout = 0")
                    await conn.execute(file.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (name, checksum) VALUES ($1, $2)",
                        file.name,
                        checksum(file),
                    )
                applied_now.append(file.name)
                log.info("applied migration %s to schema %s", file.name, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", schema)
    return applied_now


async def _verify_applied(
    conn: asyncpg.Connection, *, schema: str, files: list[Traversable]
) -> set[str]:
    """The names already applied; refuses a changed file, records missing checksums."""
    recorded = {
        row["name"]: row["checksum"]
        for row in await conn.fetch("SELECT name, checksum FROM schema_migrations")
    }
    changed = [
        file
        for file in files
        if recorded.get(file.name) is not None
        and recorded[file.name] != checksum(file)
        and recorded[file.name] not in amended_checksums(file)
    ]
    if changed:
        names = ", ".join(str(file) for file in changed)
        raise MigrationChanged(
            f"schema {schema}: migration {names} changed after it was applied "
            f"(checksum differs from the one recorded in {schema}.schema_migrations); "
            "restore the file as it was and put the change in a new migration"
        )
    unrecorded = [
        file
        for file in files
        if file.name in recorded
        and (recorded[file.name] is None or recorded[file.name] in amended_checksums(file))
    ]
    if unrecorded:
        await conn.executemany(
            "UPDATE schema_migrations SET checksum = $2 WHERE name = $1",
            [(file.name, checksum(file)) for file in unrecorded],
        )
        log.info(
            "recorded checksums of %d migrations applied before to schema %s",
            len(unrecorded),
            schema,
        )
    return set(recorded)
