"""Fulfilment's commands given in process (the service tier), as its routes give them."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from fulfilment import commands
from fulfilment.domain import Command
from supplychain_contracts import OrderPlaced


async def command(
    pool: asyncpg.Pool, order_id: uuid.UUID, what: Command, department: str, **kw: Any
) -> commands.Outcome:
    """Give a command the way the route does: one transaction."""
    async with pool.acquire() as conn, conn.transaction():
        return await commands.execute(
            conn, order_id=order_id, command=what, department=department, **kw
        )


async def work_through(pool: asyncpg.Pool, placed: OrderPlaced, *, until: Command) -> None:
    """Its supplier accepts, starts and ships the order, and its requester confirms the
    receipt, up to `until`: one command (one transaction) each."""
    steps = (
        (Command.ACCEPT, placed.supplier),
        (Command.START, placed.supplier),
        (Command.SHIP, placed.supplier),
        (Command.RECEIPT, placed.requester),
    )
    for what, department in steps:
        await command(pool, placed.order_id, what, department)
        if what is until:
            return
