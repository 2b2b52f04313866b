"""The four services on one real broker and database, started once for a test module that
exercises their HTTP APIs (input walk, schemathesis): `four_services` is a module fixture."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from supplychain_devstack.processes import free_port
from supplychain_devstack.services import SERVICES, ServiceProcess
from supplychain_devstack.tansu import TANSU_CLIENT_ENV

from support import auth

ADMIN = {"Authorization": "Bearer dev-admin-1"}
DEPARTMENT = "ASSEMBLY"


def credentials(path: str) -> dict[str, str]:
    """An admin key on admin routes, a department's key elsewhere (each gets 403 on the other)."""
    return ADMIN if path.startswith("/v1/admin/") else auth(DEPARTMENT)


@pytest.fixture(scope="module")
def four_services(
    database: Any, module_broker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ServiceProcess]]:
    """Every service as a process (as `make run` starts them) on a fresh broker and database."""
    log_dir = tmp_path_factory.mktemp("api-stack")
    broker = module_broker
    database_url = database.new_database()
    group_suffix = uuid.uuid4().hex[:8]
    services: dict[str, ServiceProcess] = {}
    try:
        for name in SERVICES:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
                "DATABASE_URL": database_url,
                **(TANSU_CLIENT_ENV if broker.tansu is not None else {}),
                "OUTBOX_POLL_INTERVAL_MS": "100",
                "FULFILMENT_AUTOPILOT": "false",
                "SUPPLYCHAIN_ENVIRONMENT": "test",
                "CONSUMER_GROUP": name if broker.tansu is not None else f"{name}-{group_suffix}",
            }
            services[name] = ServiceProcess(name=name, port=free_port(), env=env, log_dir=log_dir)
        for service in services.values():
            service.start()
        for service in services.values():
            service.wait_ready()
        yield services
    finally:
        for service in services.values():
            service.stop()
