"""`make run`: start the whole system, print where it is, stop everything on Ctrl-C."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from supplychain_contracts.company_file import CompanyFileError, load_company_file

from supplychain_devstack.demand import DemandSimulator
from supplychain_devstack.prometheus import HOW_TO_GET_IT, LocalPrometheus
from supplychain_devstack.services import CLI_URL_VARIABLES
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_devstack.supervisor import GaveUp, RestartPolicy, Supervisor

PROJECT_ROOT = Path.cwd()


def main() -> int:
    config = StackConfig.from_environment(PROJECT_ROOT)
    stack = Stack(config)
    stopping = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    company_file = os.environ.get("COMPANY_FILE")
    if company_file:  # refuse a bad file before anything starts, every problem located
        try:
            company = load_company_file(company_file)
        except CompanyFileError as exc:
            for problem in exc.problems:
                print(f"{company_file}: {problem}", file=sys.stderr)
            return 1
        print(f"company: {company.name} (COMPANY_FILE={company_file})", flush=True)
    print("starting the internal supply chain ...", flush=True)
    try:
        stack.start()
    except Exception as exc:
        print(f"could not start: {exc}", file=sys.stderr)
        return 1
    print(f"  broker    {stack.bootstrap_servers}" + (" (embedded Tansu)" if stack.tansu else ""))
    db_kind = " (embedded PostgreSQL)" if stack.postgres else ""
    print(f"  database  {stack.database_url}{db_kind}")
    for name, service in stack.services.items():
        print(
            f"  {name:<13} {service.url}   docs {service.url}/docs   metrics {service.url}/metrics"
        )
    print(f"  console   {stack.services['monitoring'].url}/console")
    print(f"  logs      {config.data_dir / 'logs'}")
    print("  the supplychain CLI finds this stack with (copy into your shell):")
    for line in cli_exports(stack):
        print(f"    {line}")
    prometheus = start_prometheus(stack, config.data_dir)
    demand = None
    interval = float(os.environ.get("DEVSTACK_DEMAND_INTERVAL_S", "5"))
    if interval > 0:
        demand = DemandSimulator(stack.services["order-intake"].url, interval_s=interval)
        demand.start()
        print(
            f"  demand    an order every {interval:g} s (DEVSTACK_DEMAND_INTERVAL_S=0 turns it off)"
        )
    print("ready: press Ctrl-C to stop everything", flush=True)
    supervisor = Supervisor(stack.services, RestartPolicy.from_environment(), report=_report)
    status = 0
    try:
        while not stopping.wait(timeout=0.25):
            supervisor.check()
    except GaveUp as exc:
        print(f"{exc}: stopping everything", file=sys.stderr, flush=True)
        status = 1
    finally:
        print("stopping ...", flush=True)
        if demand is not None:
            demand.stop()
        if prometheus is not None:
            prometheus.stop()
        stack.stop()
        print("stopped", flush=True)
    return status


def _report(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start_prometheus(stack: Stack, data_dir: Path) -> LocalPrometheus | None:
    """Prometheus scraping the services, when its binary is there; `make run` runs on
    without it (DEVSTACK_PROMETHEUS=0 turns it off)."""
    if os.environ.get("DEVSTACK_PROMETHEUS", "1").lower() in ("0", "false", "no"):
        return None
    if LocalPrometheus.binary() is None:
        print(f"  prometheus {HOW_TO_GET_IT}")
        return None
    prometheus = LocalPrometheus(data_dir=data_dir / "prometheus", project_root=PROJECT_ROOT)
    try:
        prometheus.start({name: service.port for name, service in stack.services.items()})
    except RuntimeError as exc:
        print(f"  prometheus did not start, running on without it: {exc}", file=sys.stderr)
        return None
    rules = prometheus.rules or "none found"
    print(f"  prometheus {prometheus.url}   (scrapes the four services; alert rules {rules})")
    return prometheus


def cli_exports(stack: Stack) -> list[str]:
    """`export` lines that point the supplychain CLI at this stack, whatever its ports."""
    lines = [
        f"export {variable}={stack.services[name].url}"
        for name, variable in CLI_URL_VARIABLES.items()
        if name in stack.services
    ]
    lines.append(f"export KAFKA_BOOTSTRAP_SERVERS={stack.bootstrap_servers}")
    lines.append(f"export DATABASE_URL={stack.database_url}")
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
