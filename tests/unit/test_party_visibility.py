"""The visibility predicate every party-only read puts in its WHERE clause (pure: the rule and
its SQL text; the reads themselves are walked in tests/service/test_party_*.py)."""

from __future__ import annotations

import pytest
from supplychain_kit.http.auth import EVERY_ROW, NO_PARTY, Principal, Visibility, visible_to

WHEELS = Principal(department="WHEELS", key_id="wheels-1")
FINANCE = Principal(department="finance", key_id="finance-1", role="finance")
OPERATOR = Principal(department="operator", key_id="operator-1", role="operator")


def test_a_department_sees_the_rows_it_is_party_to() -> None:
    seen = visible_to(WHEELS, every_row=("finance",))
    assert seen == Visibility(party="WHEELS") and not seen.everything
    assert seen.admits("ASSEMBLY", "WHEELS") and not seen.admits("ASSEMBLY", "PAINTSHOP")
    assert not seen.admits(None)


def test_a_role_of_the_read_sees_every_row_any_other_role_none() -> None:
    assert visible_to(FINANCE, every_row=("finance",)) == EVERY_ROW
    assert EVERY_ROW.everything and EVERY_ROW.admits("ASSEMBLY")
    nothing = visible_to(OPERATOR, every_row=("finance",))
    assert nothing.party == NO_PARTY and not nothing.admits("ASSEMBLY", "WHEELS")
    assert visible_to(FINANCE) == nothing  # a read that names no role shows staff nothing


def test_the_sql_condition_binds_the_party_once_and_names_the_party_columns() -> None:
    condition = Visibility(party="WHEELS").where("o.requester", "o.supplier", param=3)
    assert condition == "($3::text IN (o.requester, o.supplier))"
    assert EVERY_ROW.where("o.requester", param=1) == "($1::text IS NULL)"  # bound to NULL
    with pytest.raises(ValueError):
        EVERY_ROW.where(param=1)
