"""Where the services are and who the caller is: read once from the environment.

The defaults are what `make run` prints (supplychain_devstack: services on 8001..8004, the
embedded broker on 9092 and PostgreSQL on 54329).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from supplychain_devstack.services import CLI_URL_VARIABLES, SERVICES

DEFAULT_KAFKA: Final = "127.0.0.1:9092"
DEFAULT_DATABASE_URL: Final = "postgresql://postgres@127.0.0.1:54329/supplychain"
# service name -> its SUPPLYCHAIN_URL_* variable (the ones `make run` prints)
URL_VARIABLES: Final = CLI_URL_VARIABLES


@dataclass(frozen=True)
class Config:
    api_key: str | None
    intake: str
    fulfilment: str
    invoicing: str
    monitoring: str
    kafka: str
    database_url: str

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env

        def url(service: str) -> str:
            default = f"http://127.0.0.1:{SERVICES[service][1]}"
            return env.get(URL_VARIABLES[service], default).rstrip("/")

        return cls(
            api_key=env.get("SUPPLYCHAIN_API_KEY") or None,
            intake=url("order-intake"),
            fulfilment=url("fulfilment"),
            invoicing=url("invoicing"),
            monitoring=url("monitoring"),
            kafka=env.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA),
            database_url=env.get("DATABASE_URL", DEFAULT_DATABASE_URL),
        )

    def urls(self) -> dict[str, str]:
        return {
            "order-intake": self.intake,
            "fulfilment": self.fulfilment,
            "invoicing": self.invoicing,
            "monitoring": self.monitoring,
        }
