"""Accounting periods: a month per legal entity is open until finance closes it.

Nothing posts into a closed month: a document dated in it posts into the first open month
after it and names the month it belongs to (`original_period`). Closing and posting are
serialised per legal entity (periods_store.lock_for_posting / lock_for_close: a posting holds
the entity's lock shared, a close exclusively, until commit), so a posting either commits
before the close looks at the month or sees it closed.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

import asyncpg

from invoicing import periods_store

PERIOD = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def next_month(period: str) -> str:
    year, month = int(period[:4]), int(period[5:])
    return f"{year + month // 12:04d}-{month % 12 + 1:02d}"


def first_open_month(period: str, closed: Collection[str]) -> str:
    """The first month from `period` on that is not closed."""
    while period in closed:
        period = next_month(period)
    return period


@dataclass(frozen=True)
class Posting:
    """Where a document dated in `original` posts: `period`, and `original` when it differs."""

    period: str
    original_period: str | None


def posting_for(period: str, closed: Collection[str]) -> Posting:
    posting = first_open_month(period, closed)
    return Posting(posting, None if posting == period else period)


async def posting_period(
    conn: asyncpg.Connection,
    *,
    legal_entity: str,
    period: str,
    counterparty_entity: str | None = None,
) -> tuple[str, str | None]:
    """The month a document of `legal_entity` dated in `period` posts into, and the original
    month when it differs (None otherwise). Call it in the transaction that stores the
    document: it holds the entity's period lock (shared) until commit, so a concurrent close
    of that month waits for the document, or the document waits and goes to the next month.

    `counterparty_entity` (the other party's legal entity of an intercompany document): the
    month must be open for both, so neither side's closed statement changes."""
    entities = sorted({legal_entity, counterparty_entity or legal_entity})
    await periods_store.lock_for_posting(conn, entities)
    closed = await periods_store.closed_months(conn, legal_entities=entities, since=period)
    posting = posting_for(period, closed)
    return posting.period, posting.original_period
