"""Intake's `POST /v1/orders` alone against the bare FastAPI + asyncpg endpoint, and the SQL
round trips one placement makes.

Order intake runs as `make run` starts it (one process, its relay publishing to the embedded
broker), with no other service; bench/bare_app.py runs beside it on the same PostgreSQL. Each
is loaded closed-loop with the system benchmark's concurrency, orders and key, taking turns
for a few rounds (medians reported, with the CPU each process spent per request). Then one
placement is made in process, through the route's own function, on a connection that counts
what it sends to PostgreSQL.

    python bench/intake_place.py [--seconds 4] [--rounds 3] [--no-flush] [--profile out.txt]
    git archive <commit> services/order_intake/src | tar -x -C /tmp/old
    python bench/intake_place.py --against /tmp/old/services/order_intake/src   # A/B

`--against` runs a second intake from another source tree beside this one (same database,
same turns): before/after figures from the same minutes of the same machine. `--profile`
records this intake with py-spy. `--no-flush` turns off synchronous commit for the database
(every side alike): placements of one department are stored one at a time, each holding the
running total until its commit is flushed, so on a slow or shared disk the flush bounds
intake, not its CPU or round trips. Figures are for this machine at this moment: compare
ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import asyncpg
import httpx
import profiles
from fastapi import Response
from fasthttp import Pool
from order_intake import api
from order_intake.config import OrderIntakeSettings
from order_intake.models import PlaceOrder
from supplychain_devstack.processes import free_port
from supplychain_devstack.services import ServiceProcess
from supplychain_devstack.stack import Stack, StackConfig
from supplychain_kit import db
from supplychain_kit.http.auth import development_principal
from system_bench import (
    CONCURRENCY,
    ORDER_AUTH,
    CpuMeter,
    closed_loop,
    order_body,
    place,
    raise_budget,
    start_bare_app,
)


async def round_trips(database_url: str) -> list[str]:
    """The statements one placement sends, in order (a transaction's BEGIN and COMMIT too),
    after a first placement has warmed the connection's statement cache."""
    pool = await db.create_pool(database_url, schema="order_intake", max_size=1, ensure=False)
    principal = development_principal(ORDER_AUTH["Authorization"].removeprefix("Bearer "))
    assert principal is not None
    settings = OrderIntakeSettings()
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:

            async def one() -> None:
                await api.place_order(
                    PlaceOrder.model_validate(order_body()),
                    f"bench-rt-{uuid.uuid4()}",
                    conn,
                    settings,
                    principal,
                    Response(),
                )

            await one()
            conn.add_query_logger(lambda record: sent.append(" ".join(record.query.split())))
            await one()
    finally:
        await pool.close()
    return sent


async def no_flush(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET synchronous_commit = off', "
            "current_database()); END $$"
        )
    finally:
        await conn.close()


@dataclass
class Target:
    """An endpoint loaded in turn with the others: its rates and CPU ms per request."""

    name: str
    call: Callable[[], Awaitable[tuple[int, bytes]]]
    pid: int
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    errors: int = 0


async def load(endpoints: dict[str, tuple[str, int]], seconds: float, rounds: int) -> list[Target]:
    """Closed loops on each endpoint (name: base URL, pid) taking turns, `rounds` times, so
    that a machine whose load changes meanwhile (other work on the same cores) weighs on
    every endpoint alike. The one named "bare" is the bare app; the others are intakes."""
    pools = {name: Pool(url) for name, (url, _) in endpoints.items()}
    bare = partial(pools["bare"].request, "POST", "/v1/orders", json_body=order_body())
    targets = [
        Target(name, bare if name == "bare" else partial(place, pools[name]), pid)
        for name, (_, pid) in endpoints.items()
    ]
    cpu = CpuMeter()
    try:
        async with httpx.AsyncClient(timeout=60) as client:
            await raise_budget(client, endpoints["intake"][0])
        for target in targets:
            cpu.watch(target.name, target.pid)
            await closed_loop(1.0, target.call)  # reference data, caches, connections
        for _ in range(rounds):
            for target in targets:
                before, started = cpu.snapshot(), time.perf_counter()
                rate, errors = await closed_loop(seconds, target.call)
                done = rate * (time.perf_counter() - started)
                used = CpuMeter.delta(cpu.snapshot(), before)[target.name]
                target.rates.append(rate)
                target.cpu_ms.append(1000 * used / done if done else 0.0)
                target.errors += errors
    finally:
        for pool in pools.values():
            pool.close()
    return targets


def intake_env(env: dict[str, str], source: Path | None) -> dict[str, str]:
    """The service's environment, its own package taken from `source` (an A/B run)."""
    if source is None:
        return env
    return {**env, "PYTHONPATH": os.pathsep.join([str(source), os.environ.get("PYTHONPATH", "")])}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="each closed loop")
    parser.add_argument("--rounds", type=int, default=3, help="turns of every target")
    parser.add_argument("--profile", type=Path, help="py-spy of intake during its loops")
    parser.add_argument("--no-flush", action="store_true", help="synchronous_commit off")
    parser.add_argument(
        "--against",
        type=Path,
        help="another order_intake source folder (e.g. `git archive` of an older commit's "
        "services/order_intake/src), run as a second intake beside this one",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="intake-place-"))
    stack = Stack(
        StackConfig(
            data_dir=workdir,
            kafka_port=free_port(),
            postgres_port=free_port(),
            http_port_base=0,
            autopilot=False,
            fresh_database=True,
            extra_env={"RATE_LIMIT_PER_SECOND": "0"},
        )
    )
    bare = None
    try:
        stack.start_infrastructure()
        if args.no_flush:
            asyncio.run(no_flush(stack.database_url))
        env = stack.service_env()
        sources = {"intake": None, "intake (--against)": args.against}
        for name, source in sources.items():
            if name != "intake" and source is None:
                continue
            service = ServiceProcess(
                name="order-intake",
                port=free_port(),
                env=intake_env(env, source),
                log_dir=workdir / "logs" / name.replace(" ", ""),
            )
            stack.services[name] = service
            service.start()
            service.wait_ready()
        bare, bare_url = start_bare_app(stack.database_url, workdir / "logs" / "bare_app.log")
        endpoints = {
            name: (service.url, pid_of(service)) for name, service in stack.services.items()
        }
        endpoints["bare"] = (bare_url, bare.pid)
        spy = None
        if args.profile is not None:
            duration = len(endpoints) * (args.rounds * args.seconds + 1) + 2
            spy = profiles.record(endpoints["intake"][1], duration, args.profile)
        targets = asyncio.run(load(endpoints, args.seconds, args.rounds))
        if spy is not None:
            spy.wait(timeout=600)
        os.environ.update(env)
        statements = asyncio.run(round_trips(stack.database_url))
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=10)
        stack.stop()
    shutil.rmtree(workdir)  # a failed run keeps its logs
    print(f"round trips per placement (this intake): {len(statements)}")
    for statement in statements:
        print(f"  {statement[:110]}")
    bare_rate = statistics.median(targets[-1].rates)
    flush = "synchronous_commit off" if args.no_flush else "synchronous_commit on"
    print(f"{args.rounds} rounds x {args.seconds:g} s, {CONCURRENCY} connections, {flush}:")
    for target in targets:
        rate = statistics.median(target.rates)
        print(
            f"  {target.name:<20} {rate:8,.0f}/s  {rate / bare_rate:5.2f}x bare  "
            f"CPU {statistics.median(target.cpu_ms):6.2f} ms/request  errors {target.errors}"
        )
    return 0


def pid_of(service: ServiceProcess) -> int:
    assert service.process is not None
    return service.process.pid


if __name__ == "__main__":
    raise SystemExit(main())
