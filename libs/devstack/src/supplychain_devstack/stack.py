"""The whole system on one machine: broker and database (embedded unless given), four services."""

from __future__ import annotations

import asyncio
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from supplychain_devstack.postgres import EmbeddedPostgres
from supplychain_devstack.services import SERVICES, ServiceProcess
from supplychain_devstack.tansu import (
    TANSU_CLIENT_ENV,
    TANSU_SINGLE_PARTITION_ENV,
    EmbeddedTansu,
)
from supplychain_devstack.topics import create_topics


@dataclass
class StackConfig:
    data_dir: Path
    kafka_port: int = 9092
    postgres_port: int = 54329
    http_port_base: int = 8000  # services listen on base+1 .. base+4
    autopilot: bool = True
    fresh_database: bool = False
    partitions: int = 3
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_environment(cls, project_root: Path) -> StackConfig:
        env = os.environ
        return cls(
            data_dir=Path(env.get("DEVSTACK_DATA_DIR", project_root / ".data")),
            kafka_port=int(env.get("DEVSTACK_KAFKA_PORT", "9092")),
            postgres_port=int(env.get("DEVSTACK_POSTGRES_PORT", "54329")),
            http_port_base=int(env.get("DEVSTACK_HTTP_PORT_BASE", "8000")),
            autopilot=env.get("FULFILMENT_AUTOPILOT", "true").lower() in ("1", "true", "yes"),
            fresh_database=env.get("DEVSTACK_FRESH_DATABASE", "").lower() in ("1", "true", "yes"),
            # one service process each: one partition per topic keeps order, and its
            # consumers wait long at the embedded broker (TANSU_SINGLE_PARTITION_ENV)
            partitions=int(env.get("DEVSTACK_PARTITIONS", "1")),
        )


@dataclass
class Stack:
    config: StackConfig
    tansu: EmbeddedTansu | None = field(default=None, init=False)
    postgres: EmbeddedPostgres | None = field(default=None, init=False)
    services: dict[str, ServiceProcess] = field(default_factory=dict, init=False)
    bootstrap_servers: str = field(default="", init=False)
    database_url: str = field(default="", init=False)

    def start_infrastructure(self) -> None:
        data = self.config.data_dir
        data.mkdir(parents=True, exist_ok=True)
        self.bootstrap_servers = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
        if not self.bootstrap_servers:
            self.tansu = EmbeddedTansu(
                port=self.config.kafka_port, log_file=data / "logs" / "tansu.log"
            )
            self.tansu.start()
            self.bootstrap_servers = self.tansu.bootstrap_servers
        self.database_url = os.environ.get("DATABASE_URL", "")
        if not self.database_url:
            pgdata = data / "postgres" / "pgdata"
            if self.config.fresh_database and pgdata.exists():
                shutil.rmtree(pgdata)
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            self.postgres = EmbeddedPostgres(data_dir=pgdata, port=self.config.postgres_port)
            self.postgres.start()
            self.database_url = self.postgres.url()
        asyncio.run(create_topics(self.bootstrap_servers, partitions=self.config.partitions))

    def service_env(self) -> dict[str, str]:
        env = {
            # a service has no default environment: this is a developer's machine
            "SUPPLYCHAIN_ENVIRONMENT": "local",
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "DATABASE_URL": self.database_url,
            "FULFILMENT_AUTOPILOT": "true" if self.config.autopilot else "false",
            # now and then a supplier turns an order down, so blocked chains show up too
            "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY": os.environ.get(
                "FULFILMENT_AUTOPILOT_REJECT_PROBABILITY", "0.02"
            ),
        }
        if self.tansu is not None:
            # Tansu answers a waiting fetch at a point of its wait, not when data arrives.
            env.update(TANSU_CLIENT_ENV)
            if self.config.partitions == 1:
                env.update(TANSU_SINGLE_PARTITION_ENV)
        return {**env, **self.config.extra_env}

    def start_services(self) -> None:
        env = self.service_env()
        for offset, name in enumerate(SERVICES, start=1):
            service = ServiceProcess(
                name=name,
                port=self.config.http_port_base + offset,
                env=env,
                log_dir=self.config.data_dir / "logs",
            )
            service.start()
            self.services[name] = service
        for service in self.services.values():
            service.wait_ready()

    def start(self) -> None:
        try:
            self.start_infrastructure()
            self.start_services()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.services.clear()
        if self.tansu is not None:
            self.tansu.stop()
            self.tansu = None
        if self.postgres is not None:
            self.postgres.stop()
            self.postgres = None
