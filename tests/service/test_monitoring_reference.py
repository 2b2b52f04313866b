"""Monitoring's reference data on the real PostgreSQL: the load at start (idempotent, versions
what the file changed, deactivates what is gone, republishes what stands, leaves admin changes
alone otherwise, also in a database loaded before migration 0005), the admin commands (a version,
its history line and its reference event in one transaction) and clocks that keep the version
they started with."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from monitoring.reference import store
from monitoring.reference.commands import (
    InvalidDefinition,
    define_calendar,
    define_policy,
    load_owned_reference,
)
from monitoring.reference.company import OwnedReference
from monitoring.reference.versions import SINCE_EVER, Version, latest
from monitoring.timeline.handlers import event_applier
from monitoring.timeline.sinks import Emitting
from supplychain_contracts import OrderAccepted, OrderPlaced, Stage, follow_up
from supplychain_contracts.company import NamedCalendar, SlaPolicy
from supplychain_contracts.reference import BusinessCalendarDefined, SlaPolicyDefined
from supplychain_kit import db
from supplychain_kit.messaging import reference
from support.events import order_placed
from support.service import ServicePool, outbox_events

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LATER = T0 + timedelta(days=1)
BERLIN = NamedCalendar(
    code="BERLIN",
    name="Berlin office",
    time_zone="Europe/Berlin",
    working_days=(0, 1, 2, 3, 4),
    start_hour=9,
    end_hour=17,
    holidays_country="DE",
    holidays_subdivision="BE",
)
WHEELS = SlaPolicy(supplier="WHEELS", targets_seconds={"acceptance": 30, "fulfilment": 120})
RUSH = SlaPolicy(supplier="ASSEMBLY", priority="rush", targets_seconds={"acceptance": 10})
FACILITIES = SlaPolicy(
    supplier="FACILITIES", targets_seconds={"acceptance": 3600}, calendar_code="BERLIN"
)
COMPANY = OwnedReference(source="test", policies=(WHEELS, RUSH, FACILITIES), calendars=(BERLIN,))
ADMIN = "admin-1"


async def load(pool: asyncpg.Pool, owned: OwnedReference = COMPANY, *, now: datetime = T0) -> Any:
    async with pool.acquire() as conn:
        return await load_owned_reference(conn, owned, now=now)


async def events(pool: asyncpg.Pool) -> list[Any]:
    async with pool.acquire() as conn:
        return await outbox_events(conn)


async def table_count(pool: asyncpg.Pool, table: str) -> int:
    async with pool.acquire() as conn:
        count: int = await conn.fetchval(f"SELECT count(*) FROM {table}")
    return count


# --- the load at start -------------------------------------------------------------------------


async def test_loading_twice_makes_no_new_version_and_republishes(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    first = await load(pool)
    second = await load(pool, now=LATER)

    assert [(v.key, v.version, v.number) for v in first.policy_versions] == [
        ("WHEELS", 1, 1),
        ("ASSEMBLY:rush", 1, 2),
        ("FACILITIES", 1, 3),
    ]
    assert {v.effective_from for v in first.policy_versions} == {SINCE_EVER}  # a first load
    assert [v.key for v in first.calendar_versions] == ["BERLIN"]
    assert (second.policy_versions, second.calendar_versions) == ((), ())
    assert await table_count(pool, "sla_policy_versions") == 3
    assert await table_count(pool, "calendar_versions") == 1
    assert await table_count(pool, "reference_changes") == 4  # the first load's lines only

    published = await events(pool)
    assert first.published == second.published == 4 == len(published) / 2
    assert len({event.event_id for event in published}) == 8  # fresh ids each time
    assert [type(event) for event in published[:4]] == [
        BusinessCalendarDefined,
        SlaPolicyDefined,
        SlaPolicyDefined,
        SlaPolicyDefined,
    ]
    assert [e.entity_key for e in published[:4]] == [e.entity_key for e in published[4:]]
    assert [(e.policy_id, e.version) for e in published[1:4]] == [
        ("WHEELS", 1),
        ("ASSEMBLY:rush", 1),
        ("FACILITIES", 1),
    ]
    async with pool.acquire() as conn:
        status = await reference.status(conn)
    assert status["entities"] == {"calendar": 1, "sla_policy": 3}


async def test_a_changed_file_versions_what_changed_and_deactivates_what_is_gone(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    slower = WHEELS.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 60}})
    changed = OwnedReference(source="test", policies=(slower, RUSH), calendars=())

    async def load_then_fail() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await load_owned_reference(conn, changed, now=LATER)
            await conn.execute("SELECT 1/0")

    with pytest.raises(asyncpg.DivisionByZeroError):  # all or nothing: a failed load leaves none
        await load_then_fail()
    assert await table_count(pool, "sla_policy_versions") == 3
    # (FACILITIES named BERLIN: a company file naming it no more drops both together)
    loaded = await load(pool, changed, now=LATER)

    assert [(v.key, v.version, v.active) for v in loaded.policy_versions] == [
        ("WHEELS", 2, True),
        ("FACILITIES", 2, False),
    ]
    assert [(v.key, v.version, v.active) for v in loaded.calendar_versions] == [
        ("BERLIN", 2, False)
    ]
    assert {v.effective_from for v in loaded.policy_versions} == {LATER}
    async with pool.acquire() as conn:
        wheels = await store.policy_versions(conn, key="WHEELS")
        history = await store.changes(conn, "sla_policy:WHEELS")
        removed = await store.changes(conn, "sla_policy:FACILITIES")
    assert [(v.version, v.content) for v in wheels] == [(1, WHEELS), (2, slower)]
    assert wheels[0].effective_from == SINCE_EVER  # kept: stages before still time by it
    assert [(c.version, c.changed_by) for c in history] == [
        (1, "company-file"),
        (2, "company-file"),
    ]
    assert history[1].before is not None and history[1].before["targets_seconds"] == {
        "acceptance": 30.0,
        "fulfilment": 120.0,
    }
    assert history[1].after is not None and history[1].after["targets_seconds"] == {
        "acceptance": 60.0
    }
    assert (removed[-1].version, removed[-1].after) == (2, None)

    republished = [e for e in await events(pool) if isinstance(e, SlaPolicyDefined)][-3:]
    assert [(e.policy_id, e.version, e.active) for e in republished] == [
        ("WHEELS", 2, True),
        ("ASSEMBLY:rush", 1, True),
        ("FACILITIES", 2, False),
    ]
    async with pool.acquire() as conn:
        status = await reference.status(conn)
    assert status["entities"] == {"calendar": 0, "sla_policy": 2}

    # the removed policy defined again (same content) is active again
    back = await load(pool, COMPANY, now=LATER + timedelta(hours=1))
    assert [(v.key, v.version) for v in back.policy_versions] == [("WHEELS", 3), ("FACILITIES", 3)]


# --- admin commands ----------------------------------------------------------------------------


async def test_admin_commands_version_record_and_publish_in_one_transaction(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    before = len(await events(pool))
    gold = SlaPolicy(supplier="NEWCOMER", targets_seconds={"acceptance": 5})  # unknown department
    async with pool.acquire() as conn:
        created = await define_policy(
            conn, "newcomer-gold", gold, effective_from=None, changed_by=ADMIN, now=LATER
        )
        again = await define_policy(
            conn, "newcomer-gold", gold, effective_from=None, changed_by=ADMIN, now=LATER
        )
        closed = BERLIN.model_copy(update={"closure_days": (datetime(2026, 12, 31).date(),)})
        calendar = await define_calendar(
            conn, "BERLIN", closed, effective_from=None, changed_by=ADMIN, now=LATER
        )
        history = await store.changes(conn, "sla_policy:newcomer-gold")

    assert created.created and created.version is not None
    assert (created.version.version, created.version.number) == (1, 4)
    assert created.version.effective_from == LATER  # not since ever: it starts now
    assert created.version.content.id == "newcomer-gold"  # the path names it
    assert (again.created, again.version) == (False, None)  # nothing changed
    assert not calendar.created and calendar.version is not None
    assert calendar.version.version == 2
    assert [(c.version, c.changed_by, c.before) for c in history] == [(1, ADMIN, None)]

    policy_event, calendar_event = (await events(pool))[before:]
    assert isinstance(policy_event, SlaPolicyDefined)
    assert (policy_event.policy_id, policy_event.version, policy_event.changed_by) == (
        "newcomer-gold",
        1,
        ADMIN,
    )
    assert policy_event.entity_key == "sla_policy:newcomer-gold"
    assert isinstance(calendar_event, BusinessCalendarDefined)
    assert (calendar_event.calendar, calendar_event.changed_by) == (closed, ADMIN)


@pytest.mark.parametrize(
    ("key", "policy", "effective_from", "field"),
    [
        ("WHEELS", WHEELS.model_copy(update={"calendar_code": "PARIS"}), None, "calendar_code"),
        (
            "WHEELS",
            WHEELS.model_copy(
                update={"calendar": BERLIN.model_copy(update={"holidays_country": "XX"})}
            ),
            None,
            "calendar.holidays_country",
        ),
        ("WHEELS", WHEELS, T0, "effective_from"),  # in the past
        ("WHEELS", WHEELS.model_copy(update={"id": "OTHER"}), None, "id"),
        (
            "WHEELS",
            WHEELS.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 0}}),
            None,
            "targets_seconds.acceptance",
        ),
    ],
)
async def test_a_refused_policy_changes_nothing(
    service_pool: ServicePool,
    key: str,
    policy: SlaPolicy,
    effective_from: datetime | None,
    field: str,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    before = len(await events(pool))
    async with pool.acquire() as conn:
        with pytest.raises(InvalidDefinition) as refused:
            await define_policy(
                conn, key, policy, effective_from=effective_from, changed_by=ADMIN, now=LATER
            )
    assert [p.field for p in refused.value.problems] == [field]
    assert await table_count(pool, "sla_policy_versions") == 3
    assert len(await events(pool)) == before


async def test_a_calendar_change_is_refused_when_a_policy_target_would_not_fit(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    unknown_region = BERLIN.model_copy(update={"holidays_subdivision": "ZZ"})
    # a target of 200 days fits in 40 hours a week (BERLIN), not in one hour on Mondays
    long_targets = FACILITIES.model_copy(
        update={"targets_seconds": {Stage.ACCEPTANCE: 200 * 24 * 3600}}
    )
    async with pool.acquire() as conn:
        await define_policy(
            conn, "FACILITIES", long_targets, effective_from=None, changed_by=ADMIN, now=LATER
        )
        with pytest.raises(InvalidDefinition) as region:
            await define_calendar(
                conn, "BERLIN", unknown_region, effective_from=None, changed_by=ADMIN, now=LATER
            )
        with pytest.raises(InvalidDefinition) as tight:
            await define_calendar(
                conn,
                "BERLIN",
                BERLIN.model_copy(update={"working_days": (0,), "start_hour": 9, "end_hour": 10}),
                effective_from=None,
                changed_by=ADMIN,
                now=LATER,
            )
        with pytest.raises(InvalidDefinition) as other_code:
            await define_calendar(
                conn, "PARIS", BERLIN, effective_from=None, changed_by=ADMIN, now=LATER
            )
    assert [p.field for p in region.value.problems] == ["holidays_subdivision"]
    assert [p.field for p in tight.value.problems] == ["targets_seconds.acceptance"]
    assert "policy FACILITIES" in tight.value.problems[0].message
    assert [p.field for p in other_code.value.problems] == ["code"]
    assert await table_count(pool, "calendar_versions") == 1


# --- clocks keep their version -----------------------------------------------------------------


def placed(at: datetime, supplier: str = "WHEELS") -> OrderPlaced:
    return order_placed(
        occurred_at=at,
        producer="order-intake",
        supplier=supplier,
        sku="WHEEL-26",
        quantity=2,
        unit_price="40.00",
    )


async def stage_row(pool: asyncpg.Pool, order_id: uuid.UUID, stage: Stage) -> dict[str, Any]:
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT * FROM stages WHERE order_id = $1 AND stage = $2", order_id, stage.value
        )
    assert row is not None
    return dict(row)


async def apply(pool: asyncpg.Pool, *events: Any) -> None:
    applier = event_applier(Emitting())
    for event in events:
        async with pool.acquire() as conn, conn.transaction():
            await applier(conn, event)


async def test_a_new_version_applies_only_to_stages_that_start_after_it(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    effective = T0 + timedelta(hours=1)
    slower = WHEELS.model_copy(
        update={"targets_seconds": {Stage.ACCEPTANCE: 90, Stage.FULFILMENT: 600}}
    )
    early = placed(T0)
    await apply(pool, early)  # its clock starts under version 1
    async with pool.acquire() as conn:
        defined = await define_policy(
            conn, "WHEELS", slower, effective_from=effective, changed_by=ADMIN, now=T0
        )
    assert defined.version is not None and defined.version.version == 2
    just_before = placed(effective - timedelta(seconds=1))
    after = placed(effective)
    # the early order's acceptance ends after the change: its fulfilment starts under version 2
    accepted_late = follow_up(
        early, OrderAccepted, producer="fulfilment", occurred_at=effective + timedelta(minutes=1)
    )
    await apply(pool, just_before, after, accepted_late)

    def clock(row: dict[str, Any]) -> tuple[Any, ...]:
        return (row["policy_key"], row["policy_version"], row["target_s"])

    early_acceptance = await stage_row(pool, early.order_id, Stage.ACCEPTANCE)
    assert clock(early_acceptance) == ("WHEELS", 1, 30.0)
    assert early_acceptance["deadline"] == T0 + timedelta(seconds=30)  # kept, never recomputed
    assert clock(await stage_row(pool, just_before.order_id, Stage.ACCEPTANCE)) == (
        "WHEELS",
        1,
        30.0,
    )
    assert clock(await stage_row(pool, after.order_id, Stage.ACCEPTANCE)) == ("WHEELS", 2, 90.0)
    assert clock(await stage_row(pool, early.order_id, Stage.FULFILMENT)) == ("WHEELS", 2, 600.0)
    async with pool.acquire() as conn:
        in_force = latest(await store.policy_versions(conn, supplier="WHEELS"))
    assert in_force["WHEELS"].version == 2


async def test_a_named_calendar_times_the_stage_with_its_holidays(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    # Thursday 2026-12-24 16:00 Berlin (15:00 UTC) + 90 min of office time: 60 min on
    # Thursday, then Christmas (Friday) and the weekend: Monday 28th 09:30 Berlin (08:30 UTC)
    christmas_eve = placed(datetime(2026, 12, 24, 15, 0, tzinfo=UTC), supplier="FACILITIES")
    async with pool.acquire() as conn:
        await define_policy(
            conn,
            "FACILITIES",
            FACILITIES.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 5400}}),
            effective_from=None,
            changed_by=ADMIN,
            now=LATER,
        )
    await apply(pool, christmas_eve)
    acceptance = await stage_row(pool, christmas_eve.order_id, Stage.ACCEPTANCE)
    assert acceptance["deadline"] == datetime(2026, 12, 28, 8, 30, tzinfo=UTC)
    assert (acceptance["policy_key"], acceptance["policy_version"]) == ("FACILITIES", 2)


# --- what the file changed, what an administrator changed ---------------------------------------


async def define_as_admin(pool: asyncpg.Pool, key: str, policy: SlaPolicy, *, now: datetime) -> Any:
    async with pool.acquire() as conn:
        defined = await define_policy(
            conn, key, policy, effective_from=None, changed_by=ADMIN, now=now
        )
    assert defined.version is not None
    return defined.version


async def standing(pool: asyncpg.Pool, key: str) -> Any:
    async with pool.acquire() as conn:
        return latest(await store.policy_versions(conn, key=key))[key]


async def test_an_admin_change_survives_a_restart_until_the_file_changes_that_policy(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    faster = WHEELS.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 15}})
    await define_as_admin(pool, "WHEELS", faster, now=LATER)

    restarted = await load(pool, now=LATER + timedelta(hours=1))  # the same file

    assert (restarted.policy_versions, restarted.calendar_versions) == ((), ())
    kept = await standing(pool, "WHEELS")
    assert (kept.version, kept.content, kept.changed_by, kept.active) == (2, faster, ADMIN, True)
    republished = [e for e in await events(pool) if isinstance(e, SlaPolicyDefined)]
    assert (republished[-3].policy_id, republished[-3].policy) == ("WHEELS", faster)

    # the file changes that policy afterwards: the file wins, from the load on
    slower = WHEELS.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 60}})
    changed = OwnedReference(
        source="test", policies=(slower, RUSH, FACILITIES), calendars=(BERLIN,)
    )
    at = LATER + timedelta(hours=2)
    loaded = await load(pool, changed, now=at)

    assert [(v.key, v.version, v.effective_from) for v in loaded.policy_versions] == [
        ("WHEELS", 3, at)
    ]
    won = await standing(pool, "WHEELS")
    assert (won.content, won.changed_by) == (slower, "company-file")
    async with pool.acquire() as conn:
        history = await store.changes(conn, "sla_policy:WHEELS")
    assert [(c.version, c.changed_by) for c in history] == [
        (1, "company-file"),
        (2, ADMIN),
        (3, "company-file"),
    ]
    # and a later admin change stands again across the next restart with that file
    await define_as_admin(pool, "WHEELS", faster, now=at)
    assert (await load(pool, changed, now=at + timedelta(hours=1))).policy_versions == ()
    assert (await standing(pool, "WHEELS")).content == faster


async def test_a_calendar_changed_by_an_admin_survives_a_restart(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    closed = BERLIN.model_copy(update={"closure_days": (datetime(2026, 12, 31).date(),)})
    async with pool.acquire() as conn:
        await define_calendar(
            conn, "BERLIN", closed, effective_from=None, changed_by=ADMIN, now=LATER
        )

    restarted = await load(pool, now=LATER + timedelta(hours=1))

    assert restarted.calendar_versions == ()
    async with pool.acquire() as conn:
        berlin = latest(await store.calendar_versions(conn, code="BERLIN"))["BERLIN"]
    assert (berlin.version, berlin.content, berlin.changed_by) == (2, closed, ADMIN)


async def test_a_policy_removed_from_the_file_is_deactivated_even_if_an_admin_changed_it(
    service_pool: ServicePool,
) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    faster = RUSH.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 5}})
    await define_as_admin(pool, "ASSEMBLY:rush", faster, now=LATER)
    without_rush = OwnedReference(source="test", policies=(WHEELS, FACILITIES), calendars=(BERLIN,))
    at = LATER + timedelta(hours=1)

    loaded = await load(pool, without_rush, now=at)

    assert [(v.key, v.version, v.active) for v in loaded.policy_versions] == [
        ("ASSEMBLY:rush", 3, False)
    ]
    # the next load with that file has nothing more to remove
    assert (await load(pool, without_rush, now=at + timedelta(hours=1))).policy_versions == ()
    assert not (await standing(pool, "ASSEMBLY:rush")).active

    # an administrator's PUT brings it back, and it stays across restarts: no file has it now
    back = await define_as_admin(pool, "ASSEMBLY:rush", faster, now=at + timedelta(hours=2))
    assert (back.version, back.active) == (4, True)
    assert (await load(pool, without_rush, now=at + timedelta(hours=3))).policy_versions == ()
    assert (await standing(pool, "ASSEMBLY:rush")).active


async def test_a_policy_an_admin_added_and_no_file_had_stays(service_pool: ServicePool) -> None:
    pool = await service_pool("monitoring")
    await load(pool)
    gold = SlaPolicy(supplier="NEWCOMER", targets_seconds={"acceptance": 5})
    await define_as_admin(pool, "newcomer-gold", gold, now=LATER)
    fewer = OwnedReference(source="test", policies=(WHEELS,), calendars=())

    await load(pool, now=LATER + timedelta(hours=1))  # the same file
    loaded = await load(pool, fewer, now=LATER + timedelta(hours=2))  # a file dropping others

    assert {v.key for v in loaded.policy_versions} == {"ASSEMBLY:rush", "FACILITIES"}
    added = await standing(pool, "newcomer-gold")
    assert (added.version, added.active, added.changed_by) == (1, True, ADMIN)
    async with pool.acquire() as conn:
        status = await reference.status(conn)
    assert status["entities"] == {"calendar": 0, "sla_policy": 2}  # WHEELS, newcomer-gold


async def test_a_database_loaded_before_keeps_the_admin_changes_made_since(
    database: Any,
) -> None:
    """Migration 0005 takes what the file said of each entity from the versions the old load
    made: an admin change made after it stands, a policy only an admin defined stays."""
    pool = await db.create_pool(database.new_database(), schema="monitoring", max_size=2)
    try:
        files = db.package_migrations("monitoring")
        before_0005 = [f for f in files if f.name < "0005"]
        await db.migrate(pool, schema="monitoring", files=db.kit_migrations() + before_0005)
        faster = WHEELS.model_copy(update={"targets_seconds": {Stage.ACCEPTANCE: 15}})
        gold = SlaPolicy(supplier="NEWCOMER", targets_seconds={"acceptance": 5})
        async with pool.acquire() as conn:
            # what the old load wrote: the whole file, every time, as company-file
            for number, policy in enumerate((WHEELS, RUSH, FACILITIES), start=1):
                await store.add_policy_version(
                    conn, old_version(policy.policy_key, number, 1, policy, "company-file")
                )
            await store.add_calendar_version(
                conn,
                Version(
                    key="BERLIN",
                    number=1,
                    version=1,
                    effective_from=SINCE_EVER,
                    active=True,
                    content=BERLIN,
                    changed_by="company-file",
                    changed_at=T0,
                ),
            )
            await store.add_policy_version(conn, old_version("WHEELS", 1, 2, faster, ADMIN))
            await store.add_policy_version(
                conn,
                old_version(
                    "newcomer-gold", 4, 1, gold.model_copy(update={"id": "newcomer-gold"}), ADMIN
                ),
            )
        await db.migrate(pool, schema="monitoring", files=db.kit_migrations() + files)

        loaded = await load(pool, now=LATER)

        assert (loaded.policy_versions, loaded.calendar_versions) == ((), ())
        assert (await standing(pool, "WHEELS")).content == faster
        assert (await standing(pool, "newcomer-gold")).active
    finally:
        await pool.close()


def old_version(
    key: str, number: int, version: int, policy: SlaPolicy, changed_by: str
) -> Version[SlaPolicy]:
    return Version(
        key=key,
        number=number,
        version=version,
        effective_from=SINCE_EVER if version == 1 else T0,
        active=True,
        content=policy,
        changed_by=changed_by,
        changed_at=T0,
    )
