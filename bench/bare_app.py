"""The bare baselines the system benchmark compares intake and the health route against.

One uvicorn process, as a service runs (same defaults as supplychain_kit.serve, access log
off), with no middleware, no auth, no tracing, no metrics:

- `GET /health/live`: a bare FastAPI route.
- `POST /v1/orders`: validate the body, then one asyncpg transaction inserting an order row
  and an outbox row (the event's JSON), and answer 201 with the order id.

    python bench/bare_app.py --port 9000 --database-url postgresql://...
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

SCHEMA = "bare_baseline"


class Line(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class OrderIn(BaseModel):
    requester: str
    supplier: str
    lines: list[Line]


async def prepare(database_url: str) -> asyncpg.Pool:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        await conn.execute(
            f"""CREATE TABLE {SCHEMA}.orders (
                    order_id uuid PRIMARY KEY, requester text NOT NULL, supplier text NOT NULL,
                    total numeric(18, 2) NOT NULL, status text NOT NULL,
                    placed_at timestamptz NOT NULL DEFAULT now());
                CREATE TABLE {SCHEMA}.outbox (
                    id bigserial PRIMARY KEY, event_id uuid NOT NULL UNIQUE, topic text NOT NULL,
                    key text NOT NULL, payload text NOT NULL, published_at timestamptz);"""
        )
    finally:
        await conn.close()
    return await asyncpg.create_pool(
        database_url, min_size=1, max_size=10, server_settings={"search_path": SCHEMA}
    )


def create_app(database_url: str) -> FastAPI:
    pools: list[asyncpg.Pool] = []

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        pools.append(await prepare(database_url))
        yield
        await pools[0].close()

    app = FastAPI(lifespan=lifespan)

    @app.get("/health/live")
    async def live() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/orders", status_code=201)
    async def place(order: OrderIn) -> dict[str, str]:
        order_id = uuid.uuid4()
        total = sum((Decimal("38.50") * line.quantity for line in order.lines), Decimal(0))
        payload = json.dumps(
            {
                "event_id": str(uuid.uuid4()),
                "event_type": "OrderPlaced",
                "occurred_at": datetime.now(UTC).isoformat(),
                "order_id": str(order_id),
                "requester": order.requester,
                "supplier": order.supplier,
                "lines": [line.model_dump() for line in order.lines],
                "total": str(total),
            }
        )
        async with pools[0].acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO orders (order_id, requester, supplier, total, status)"
                " VALUES ($1, $2, $3, $4, 'placed')",
                order_id,
                order.requester,
                order.supplier,
                total,
            )
            await conn.execute(
                "INSERT INTO outbox (event_id, topic, key, payload) VALUES ($1, $2, $3, $4)",
                uuid.uuid4(),
                "supplychain.orders.v1",
                str(order_id),
                payload,
            )
        return {"order_id": str(order_id)}

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args()
    uvicorn.run(
        create_app(args.database_url),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
