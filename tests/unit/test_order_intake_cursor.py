"""The keyset cursor of GET /v1/orders (order_intake.cursor, pure)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import pytest
from hypothesis import given
from hypothesis import strategies as st
from order_intake.cursor import InvalidQuery, Position, as_utc, decode_cursor, encode_cursor

ORDER_ID = UUID("6f1c1a52-8c1e-4f0e-9a57-2f1d6b0c9e11")


def test_a_cursor_names_the_position_it_was_made_from() -> None:
    position = Position(datetime(2025, 6, 1, 12, 30, 15, 123456, tzinfo=UTC), ORDER_ID)
    assert decode_cursor(encode_cursor(position)) == position


def test_a_cursor_is_url_safe_and_unpadded() -> None:
    cursor = encode_cursor(Position(datetime(2025, 6, 1, tzinfo=UTC), ORDER_ID))
    assert "=" not in cursor
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_a_position_in_another_zone_is_the_same_moment_in_utc() -> None:
    berlin = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    decoded = decode_cursor(encode_cursor(Position(berlin, ORDER_ID)))
    assert decoded.created_at == berlin
    assert decoded.created_at.tzinfo == UTC


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.just(UTC),
    ),
    st.uuids(),
)
def test_every_position_survives_the_round_trip(moment: datetime, order_id: UUID) -> None:
    assert decode_cursor(encode_cursor(Position(moment, order_id))) == Position(moment, order_id)


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor",
        "%%%",
        base64.urlsafe_b64encode(b"2025-06-01T00:00:00+00:00").decode(),  # no order id
        base64.urlsafe_b64encode(b"yesterday|" + b"787c1f38-c1fd-4503-aa2a-a59825358601").decode(),
        base64.urlsafe_b64encode(b"2025-06-01T00:00:00+00:00|not-a-uuid").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe|").decode(),
    ],
)
def test_anything_else_is_not_a_cursor(cursor: str) -> None:
    with pytest.raises(InvalidQuery) as invalid:
        decode_cursor(cursor)
    assert (invalid.value.field, invalid.value.reason) == (
        "cursor",
        "not a next_cursor of this API",
    )
    assert str(invalid.value) == "cursor is not a next_cursor of this API"


def test_a_cursor_out_of_range_says_so() -> None:
    raw = f"0001-01-01T00:00:00+01:00|{ORDER_ID}".encode()
    with pytest.raises(InvalidQuery) as invalid:
        decode_cursor(base64.urlsafe_b64encode(raw).decode())
    assert str(invalid.value) == "cursor is out of range"


def test_a_time_without_zone_is_utc() -> None:
    assert as_utc(datetime(2025, 6, 1, 8, 0), field="since") == datetime(
        2025, 6, 1, 8, 0, tzinfo=UTC
    )


def test_a_time_that_has_no_utc_equivalent_is_out_of_range() -> None:
    too_early = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    with pytest.raises(InvalidQuery) as invalid:
        as_utc(too_early, field="since")
    assert (invalid.value.field, str(invalid.value)) == ("since", "since is out of range")
