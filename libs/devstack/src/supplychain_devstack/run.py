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
from supplychain_devstack.stack import Stack, StackConfig

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
    print(f"  logs      {config.data_dir / 'logs'}")
    demand = None
    interval = float(os.environ.get("DEVSTACK_DEMAND_INTERVAL_S", "5"))
    if interval > 0:
        demand = DemandSimulator(stack.services["order-intake"].url, interval_s=interval)
        demand.start()
        print(
            f"  demand    an order every {interval:g} s (DEVSTACK_DEMAND_INTERVAL_S=0 turns it off)"
        )
    print("ready: press Ctrl-C to stop everything", flush=True)
    try:
        while not stopping.wait(timeout=1.0):
            for name, service in stack.services.items():
                if service.process is not None and service.process.poll() is not None:
                    print(f"{name} exited unexpectedly; stopping", file=sys.stderr)
                    stopping.set()
    finally:
        print("stopping ...", flush=True)
        if demand is not None:
            demand.stop()
        stack.stop()
        print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
