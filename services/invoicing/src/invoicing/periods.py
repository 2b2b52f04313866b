"""Accounting periods: a month per legal entity is open until finance closes it.

Nothing posts into a closed month: a document dated in it posts into the first open month
after it and names the month it belongs to (`original_period`). Closing and posting are
serialised per legal entity (periods_store.lock_for_posting / lock_for_close: a posting holds
the entity's lock shared, a close exclusively, until commit), so a posting either commits
before the close looks at the month or sees it closed.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
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


@dataclass(frozen=True)
class Dated:
    """A document of `legal_entity` dated in `period`; `counterparty_entity` the other
    party's legal entity of an intercompany document."""

    legal_entity: str
    period: str
    counterparty_entity: str | None = None

    @property
    def entities(self) -> tuple[str, ...]:
        return (self.legal_entity, self.counterparty_entity or self.legal_entity)


async def posting_periods(conn: asyncpg.Connection, documents: Sequence[Dated]) -> list[Posting]:
    """Where each document posts: the first month from its own on that is open for every
    entity it names (so neither side's closed statement changes). Call it in the transaction
    that stores the documents: it holds their entities' period locks (shared) until commit, so
    a concurrent close of a month waits for the documents, or they wait and go to the next
    month."""
    if not documents:
        return []
    entities = {entity for document in documents for entity in document.entities}
    await periods_store.lock_for_posting(conn, entities)
    closed = await periods_store.closed_months(
        conn, legal_entities=entities, since=min(document.period for document in documents)
    )
    return [
        posting_for(
            document.period,
            set().union(*(closed.get(entity, set()) for entity in document.entities)),
        )
        for document in documents
    ]


async def posting_period(
    conn: asyncpg.Connection,
    *,
    legal_entity: str,
    period: str,
    counterparty_entity: str | None = None,
) -> tuple[str, str | None]:
    """The month a document of `legal_entity` dated in `period` posts into, and the original
    month when it differs (None otherwise): `posting_periods` of one document."""
    [posting] = await posting_periods(conn, [Dated(legal_entity, period, counterparty_entity)])
    return posting.period, posting.original_period
