"""Effects that must follow a commit run once it committed, never after a rollback."""

from __future__ import annotations

import pytest
from supplychain_kit.messaging import effects


def test_effects_wait_for_the_unit_of_work_and_run_once() -> None:
    ran: list[str] = []
    with effects.unit_of_work() as pending:
        effects.after_commit(lambda: ran.append("counted"))
        assert ran == []
    effects.run(pending)
    effects.run(pending)
    assert ran == ["counted"]


def test_effects_of_a_rolled_back_unit_of_work_are_dropped() -> None:
    ran: list[str] = []

    def apply_then_fail() -> None:
        with effects.unit_of_work():
            effects.after_commit(lambda: ran.append("counted"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        apply_then_fail()
    assert ran == []
    effects.after_commit(lambda: ran.append("outside"))  # no unit of work: runs now
    assert ran == ["outside"]
