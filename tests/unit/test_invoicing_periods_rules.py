"""Accounting periods: where a document dated in a month posts (invoicing.periods)."""

from __future__ import annotations

import pytest
from invoicing.periods import first_open_month, next_month, posting_for


@pytest.mark.parametrize(
    ("month", "after"),
    [
        ("2026-01", "2026-02"),
        ("2026-11", "2026-12"),
        ("2026-12", "2027-01"),
        ("0999-12", "1000-01"),
    ],
)
def test_next_month_rolls_over_the_year(month: str, after: str) -> None:
    assert next_month(month) == after


def test_a_document_of_an_open_month_posts_in_it_and_names_no_original() -> None:
    assert first_open_month("2026-03", set()) == "2026-03"
    posting = posting_for("2026-03", {"2026-01", "2026-02", "2026-04"})
    assert (posting.period, posting.original_period) == ("2026-03", None)


def test_a_document_of_a_closed_month_posts_in_the_first_open_one_after_it() -> None:
    closed = {"2026-11", "2026-12", "2027-02"}
    posting = posting_for("2026-11", closed)
    assert (posting.period, posting.original_period) == ("2027-01", "2026-11")
    # a closed month before the document's does not matter
    assert posting_for("2027-03", closed).period == "2027-03"
