"""The kit's small extensions for invoicing's charges (pure): a bounded wait for reference
data not known yet (unset: the consumer waits for ever, as before), and amended migrations
declaring the checksum of the text they amend."""

from __future__ import annotations

from pathlib import Path

import pytest
from supplychain_kit import db
from supplychain_kit.messaging.consumer_config import ConsumerConfig
from supplychain_kit.settings import ServiceSettings

EARLIER = "a" * 64


def test_the_wait_for_reference_data_is_unbounded_unless_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ConsumerConfig(group_id="g").not_known_wait_s is None
    assert ConsumerConfig.from_settings(ServiceSettings()).not_known_wait_s is None
    monkeypatch.setenv("CONSUMER_NOT_KNOWN_WAIT_SECONDS", "30")
    assert ConsumerConfig.from_settings(ServiceSettings()).not_known_wait_s == 30


def test_an_amended_migration_names_the_checksums_it_amends(tmp_path: Path) -> None:
    amended = tmp_path / "0003_x.sql"
    amended.write_text(f"-- amends checksum {EARLIER}\n-- why it is safe\nSELECT 1;\n")
    plain = tmp_path / "0004_y.sql"
    plain.write_text("SELECT 1; -- amends checksum is only read at the start of a line\n")
    assert db.amended_checksums(amended) == {EARLIER}
    assert db.amended_checksums(plain) == set()
    assert db.checksum(amended) != EARLIER
