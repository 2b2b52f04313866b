"""Session fixtures: the real broker and database, started as `make run` starts them.

When KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL are set, those are used instead. With the
embedded broker, every test that needs one gets a fresh Tansu (it starts in milliseconds),
so no test sees another's records; with an external broker, tests use unique consumer groups.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from supplychain_devstack.postgres import EmbeddedPostgres
from supplychain_devstack.processes import free_port
from supplychain_devstack.services import ServiceProcess
from supplychain_devstack.tansu import TANSU_CLIENT_ENV, EmbeddedTansu
from supplychain_devstack.topics import create_topics

# A service has no default environment (issue 23): the tests run in `test`, whatever the shell
# says, for the settings built in this process as for the services started from it.
os.environ["SUPPLYCHAIN_ENVIRONMENT"] = "test"
# ... and no test meets the per-key rate limit unless it sets one (tests/*/test_guard_*).
os.environ.setdefault("RATE_LIMIT_PER_SECOND", "100000")
os.environ.setdefault("RATE_LIMIT_BURST", "100000")


@dataclass
class Broker:
    bootstrap_servers: str
    tansu: EmbeddedTansu | None = None

    def kill(self) -> None:
        assert self.tansu is not None, "only the embedded broker can be killed by a test"
        self.tansu.kill()

    async def restart(self) -> None:
        """Start again on the same port (memory storage: the topics are made anew)."""
        assert self.tansu is not None
        self.tansu.start()
        await create_topics(self.bootstrap_servers)


@dataclass
class Database:
    postgres: EmbeddedPostgres | None
    admin_url: str
    created: list[str] = field(default_factory=list)

    def new_database(self) -> str:
        """A fresh, empty database for one test (each service makes its own schema in it)."""
        name = f"t_{uuid.uuid4().hex[:12]}"
        if self.postgres is not None:
            self.postgres.create_database(name)
            return self.postgres.url(name)
        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        asyncio.run(create())
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"


@pytest.fixture(scope="session")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    url = os.environ.get("DATABASE_URL")
    if url:
        yield Database(postgres=None, admin_url=url)
        return
    root = tmp_path_factory.mktemp("postgres")
    postgres = EmbeddedPostgres(data_dir=root / "pgdata", port=free_port(), fast_unsafe=True)
    postgres.start()
    try:
        yield Database(postgres=postgres, admin_url=postgres.url())
    finally:
        postgres.stop()


def _start_broker(log_dir: Path) -> Broker:
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        asyncio.run(create_topics(external))
        return Broker(bootstrap_servers=external)
    tansu = EmbeddedTansu(port=free_port(), log_file=log_dir / "tansu.log")
    tansu.start()
    asyncio.run(create_topics(tansu.bootstrap_servers))
    return Broker(bootstrap_servers=tansu.bootstrap_servers, tansu=tansu)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    """A broker with the contract topics; a fresh embedded one per test."""
    started = _start_broker(tmp_path)
    try:
        yield started
    finally:
        if started.tansu is not None:
            started.tansu.stop()


@pytest.fixture(scope="module")
def module_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker with the contract topics shared by one test module (a stack started once)."""
    started = _start_broker(tmp_path_factory.mktemp("broker"))
    try:
        yield started
    finally:
        if started.tansu is not None:
            started.tansu.stop()


@pytest.fixture
def needs_embedded_broker() -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        pytest.skip("kills and restarts the broker: only possible with the embedded Tansu")


ServiceFactory = Callable[..., ServiceProcess]


@pytest.fixture
def start_service(broker: Broker, database: Database, tmp_path: Path) -> Iterator[ServiceFactory]:
    """Start services as separate processes (as `make run` does) against this test's broker
    and a fresh database shared by the services of this test."""
    started: list[ServiceProcess] = []
    database_url = database.new_database()
    group_suffix = uuid.uuid4().hex[:8]

    def start(name: str, *, env: dict[str, str] | None = None, wait: bool = True) -> ServiceProcess:
        service_env = {
            "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "DATABASE_URL": database_url,
            **(TANSU_CLIENT_ENV if broker.tansu is not None else {}),
            "OUTBOX_POLL_INTERVAL_MS": "100",
            "CONSUMER_RETRY_BACKOFF_MS": "20",
            "FULFILMENT_AUTOPILOT": "false",
            "SUPPLYCHAIN_ENVIRONMENT": "test",
            "CONSUMER_GROUP": f"{name}-{group_suffix}" if broker.tansu is None else name,
            **(env or {}),
        }
        service = ServiceProcess(
            name=name, port=free_port(), env=service_env, log_dir=tmp_path / "logs"
        )
        service.start()
        started.append(service)
        if wait:
            service.wait_ready()
        return service

    start.database_url = database_url  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        for service in reversed(started):
            service.stop()


def _start_order(item: pytest.Item) -> int:
    """Where a test module starts when pytest-xdist hands modules to its workers in collection
    order: the longest first (the short soak, then the other end-to-end runs and the failover
    module, then the integration stacks), so that the short modules fill the end instead of a long one
    running alone."""
    path = item.path.as_posix()
    if "/tests/e2e/test_soak_short" in path:
        return 0
    if ("/tests/e2e/" in path and "test_bench_short" not in path) or path.endswith(
        "/tests/integration/test_failover.py"
    ):
        return 1
    if "/tests/integration/" in path:
        return 2
    if "/tests/e2e/test_bench_short" in path:  # it measures: beside the short tests
        return 3
    return 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_start_order)  # stable: the order within each group stays
