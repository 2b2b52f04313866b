"""The keyset cursor of an order list (`next_cursor`): opaque to clients, pure to us."""

from __future__ import annotations

import base64
import binascii
from datetime import UTC, datetime
from typing import NamedTuple
from uuid import UUID


class Position(NamedTuple):
    """Where a page ended: the last order's creation time and id (the list's sort key)."""

    created_at: datetime
    order_id: UUID


class InvalidQuery(Exception):
    """A query parameter that cannot be used; `field` names it, `reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field} is {reason}")
        self.field = field
        self.reason = reason


def as_utc(moment: datetime, *, field: str) -> datetime:
    """`moment` in UTC; a time without a zone is taken as UTC."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (OverflowError, ValueError) as exc:
        raise InvalidQuery(field, "out of range") from exc


def encode_cursor(position: Position) -> str:
    raw = f"{position.created_at.astimezone(UTC).isoformat()}|{position.order_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> Position:
    """The position a `next_cursor` names; InvalidQuery for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, order_id = raw.split("|")
        return Position(as_utc(datetime.fromisoformat(moment), field="cursor"), UUID(order_id))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidQuery("cursor", "not a next_cursor of this API") from exc
