"""The SLA policy and calendar versions held in memory: a stage's clock is picked without
reading them again (every version is kept, so a late or replayed event is timed by the
version in force when its stage started, as from the store).

The store's `reference_token` changes with every change of the versions (migration 0013):
the consumer reads it with the statement that marks a batch's stage boundaries and hands it
to `refresh`, which reads the versions again only when it differs from the one they were
read with. A definition made on another replica is seen by the next batch that starts a
clock."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg
from supplychain_contracts.company import NamedCalendar, SlaPolicy

from monitoring.reference import store
from monitoring.reference.versions import Version


class ReferenceMemory:
    def __init__(self) -> None:
        self.token: UUID | None = None
        self._policies: dict[str, list[Version[SlaPolicy]]] = {}
        self._calendars: dict[str, list[Version[NamedCalendar]]] = {}

    async def refresh(self, conn: asyncpg.Connection, token: UUID | None) -> None:
        """Read the versions again unless they were read under `token` (None: always)."""
        if token is not None and token == self.token:
            return
        # the token first: a change committed meanwhile is read now and again next time
        read: UUID = await conn.fetchval("SELECT token FROM reference_token")
        self.load(await store.policy_versions(conn), await store.calendar_versions(conn))
        self.token = read

    def load(
        self,
        policies: Sequence[Version[SlaPolicy]],
        calendars: Sequence[Version[NamedCalendar]],
    ) -> None:
        """Hold these versions (as the store orders them: by number, then version)."""
        by_key: dict[str, list[Version[SlaPolicy]]] = {}
        for version in policies:
            by_key.setdefault(version.key, []).append(version)
        by_supplier: dict[str, list[Version[SlaPolicy]]] = {}
        for versions in by_key.values():
            for supplier in {v.content.supplier for v in versions}:
                by_supplier.setdefault(supplier, []).extend(versions)
        self._policies = {
            supplier: sorted(versions, key=lambda v: (v.number, v.version))
            for supplier, versions in by_supplier.items()
        }
        self._calendars = {}
        for calendar in calendars:
            self._calendars.setdefault(calendar.key, []).append(calendar)

    def policy_versions(self, supplier: str) -> list[Version[SlaPolicy]]:
        """Every version of the policies that are (or were, in any version) of the supplier:
        `store.policy_versions(conn, supplier=...)` without the query."""
        return list(self._policies.get(supplier, ()))

    def calendar_versions(self, code: str) -> list[Version[NamedCalendar]]:
        """Every version of one calendar: `store.calendar_versions(conn, code=...)`."""
        return list(self._calendars.get(code, ()))
