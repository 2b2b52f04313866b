"""Intake's `POST /v1/orders` alone against the bare FastAPI + asyncpg endpoint, and the SQL
round trips one placement makes.

Order intake runs as `make run` starts it (one process, its relay publishing to the embedded
broker), with no other service; bench/bare_app.py runs beside it on the same PostgreSQL. Both
are loaded closed-loop with the system benchmark's concurrency, orders and key, one after the
other. Then one placement is made in process, through the route's own function, on a
connection that counts what it sends to PostgreSQL.

    python bench/intake_place.py [--seconds 8] [--profile out.txt]

`--profile` records intake with py-spy during its closed loop. Figures are for this machine
at this moment: compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

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
from supplychain_kit.auth import development_principal
from system_bench import (
    ORDER_AUTH,
    closed_loop,
    compare,
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


async def load(intake_url: str, bare_url: str, seconds: float) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=60) as client:
        await raise_budget(client, intake_url)
    intake, bare = Pool(intake_url), Pool(bare_url)
    try:
        await closed_loop(1.0, lambda: place(intake))  # reference data, caches, connections
        return await compare(
            "POST /v1/orders",
            seconds,
            lambda: place(intake),
            lambda: bare.request("POST", "/v1/orders", json_body=order_body()),
        )
    finally:
        intake.close()
        bare.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="each closed loop")
    parser.add_argument("--profile", type=Path, help="py-spy of intake during its loop")
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
        env = stack.service_env()
        intake = ServiceProcess(
            name="order-intake", port=free_port(), env=env, log_dir=workdir / "logs"
        )
        stack.services["order-intake"] = intake
        intake.start()
        intake.wait_ready()
        bare, bare_url = start_bare_app(stack.database_url, workdir / "logs" / "bare_app.log")
        spy = None
        if args.profile is not None and intake.process is not None:
            spy = profiles.record(intake.process.pid, args.seconds + 3, args.profile)
        result = asyncio.run(load(intake.url, bare_url, args.seconds))
        if spy is not None:
            spy.wait(timeout=args.seconds + 60)
        os.environ.update(env)
        statements = asyncio.run(round_trips(stack.database_url))
    finally:
        if bare is not None:
            bare.terminate()
            bare.wait(timeout=10)
        stack.stop()
    print(f"round trips per placement: {len(statements)}")
    for statement in statements:
        print(f"  {statement[:110]}")
    print(
        f"intake {result['ours']:,.0f}/s, bare {result['bare']:,.0f}/s, "
        f"ratio {result['ratio']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
