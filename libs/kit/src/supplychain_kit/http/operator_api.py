"""The operator's routes every service mounts: the dead letters of the topics it produces and
their redrive, its parked outbox rows and their release, and the records its consumer parked. Operator keys only
(OPERATOR_API_KEYS; `dev-operator-1` in local and test); any other key gets 403.

A service redrives only the topics it produces: the producer owns a topic's writes, as the
broker's ACLs have it (dead_letters, redrive_rules). Every action is recorded on the operations
topic with the operator key's owner: a redrive as RecordRedriven, a release as
OutboxRowsReleased.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field
from supplychain_contracts import topics
from supplychain_contracts.operations import OutboxRowsReleased, RecordRedriven

from supplychain_kit.http.app import Db, Runtime
from supplychain_kit.http.auth import Principal, authenticate_roles
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem
from supplychain_kit.messaging import consumer_parking, dead_letters, outbox, outbox_parking
from supplychain_kit.runtime import ServiceRuntime

Operator = Annotated[Principal, Depends(authenticate_roles("operator"))]
router = APIRouter(prefix="/v1/operations", tags=["operations"])
REFUSALS: dict[int | str, dict[str, Any]] = {
    status: PROBLEM_RESPONSE for status in (401, 403, 404, 409, 422, 503)
}
DeadLetterTopic = Annotated[
    str, Path(description="the dead-letter topic, e.g. supplychain.orders.v1.dlq", max_length=249)
]
Partition = Annotated[int, Path(ge=0, le=1_000_000)]
Offset = Annotated[int, Path(ge=0, le=2**53)]
OutboxId = Annotated[int, Field(ge=1, le=2**53)]  # exact in any JSON reader
Reason = Field(default="", max_length=500, description="why, in the operator's words")


class DeadLetterView(BaseModel):
    """A record a consumer group gave up on, with its error and whether it was redriven."""

    topic: str
    partition: int
    offset: int
    coordinates: str = Field(description="<dlq topic>:<partition>:<offset>")
    timestamp_ms: int
    key: str | None
    source_topic: str = Field(description="where it came from and a redrive sends it back to")
    source_partition: int | None
    source_offset: int | None
    consumer_group: str | None
    error_type: str | None
    error: str | None
    attempts: str | None
    headers: dict[str, str]
    value: Any = Field(description="the record as received (JSON, or its text)")
    redriven: RecordRedriven | None = Field(description="its redrive, or its source record's")


class RedriveRequest(BaseModel):
    """Republish the dead letter as received, or `value` corrected."""

    model_config = ConfigDict(extra="forbid")

    value: dict[str, Any] | None = Field(
        default=None,
        description="a corrected event: valid on the dead letter's source topic, keeping its "
        "event_id, event_type, order_id and key (refused otherwise, 422 naming the field)",
    )
    reason: str = Reason


class ParkedRow(BaseModel):
    outbox_id: int
    key: str
    topic: str
    event_type: str
    attempts: int
    last_error: str
    first_failed_at: Any
    parked_at: Any


class ConsumerParkedRecord(BaseModel):
    """A consumed record of an event type the consumer did not know, parked until a version
    that knows it starts (and applies it, in order, once)."""

    id: int
    consumer_group: str
    topic: str
    partition: int
    offset: int
    event_type: str
    first_seen_at: Any


class ReleaseRequest(BaseModel):
    """Which parked rows to retry: their ids, or "all"."""

    model_config = ConfigDict(extra="forbid")

    outbox_ids: (
        Annotated[list[OutboxId], Field(min_length=1, max_length=10_000)] | Literal["all"]
    ) = Field(description='the parked rows to retry, or "all" of them', examples=[[42], "all"])
    reason: str = Reason


class ReleaseResult(BaseModel):
    released: list[int] = Field(description="retried now, in this order")
    not_parked: list[int] = Field(description="asked for, but not parked")
    audit: OutboxRowsReleased | None = Field(description="the release as recorded")


def _dead_letter_topics(runtime: ServiceRuntime[Any], asked: str | None) -> list[str]:
    produced = [topics.dead_letter_topic(t) for t in runtime.produces]
    if asked is None:
        return produced
    wanted = asked if asked.endswith(topics.DLQ_SUFFIX) else topics.dead_letter_topic(asked)
    if wanted not in produced:
        raise Problem(
            404,
            f"{runtime.settings.service_name} holds the dead letters of the topics it produces "
            f"({', '.join(produced)}), not {asked}",
            field="topic",
        )
    return [wanted]


@router.get("/dead-letters", response_model=list[DeadLetterView], responses=REFUSALS)
async def list_dead_letters(
    caller: Operator,
    runtime: Runtime,
    topic: Annotated[
        str | None,
        Query(max_length=249, description="a topic this service produces (or its .dlq name)"),
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=5000, description="at most this many, oldest first")
    ] = 500,
) -> list[dict[str, Any]]:
    """The dead letters of the topics this service produces, with their redrives."""
    names = _dead_letter_topics(runtime, topic)
    with dead_letters.broker_problems():
        found = await dead_letters.read_to_end(runtime.settings, names)
        done = await dead_letters.redrives(runtime.settings)
    return [r.as_json(dead_letters.earlier_redrive(r, done)) for r in found[:limit]]


@router.get(
    "/dead-letters/{topic}/{partition}/{offset}", response_model=DeadLetterView, responses=REFUSALS
)
async def show_dead_letter(
    caller: Operator,
    runtime: Runtime,
    topic: DeadLetterTopic,
    partition: Partition,
    offset: Offset,
) -> dict[str, Any]:
    """One dead letter: every header, the value, its redrive."""
    (name,) = _dead_letter_topics(runtime, topic)
    with dead_letters.broker_problems():
        found = await dead_letters.dead_letter(runtime.settings, name, partition, offset)
        done = await dead_letters.redrives(runtime.settings) if found else {}
    if found is None or name != topic:
        raise Problem(404, f"no dead letter at {topic}:{partition}:{offset}")
    return found.as_json(dead_letters.earlier_redrive(found, done))


@router.post(
    "/dead-letters/{topic}/{partition}/{offset}/redrive",
    response_model=RecordRedriven,
    responses=REFUSALS,
)
async def redrive_dead_letter(
    caller: Operator,
    runtime: Runtime,
    topic: DeadLetterTopic,
    partition: Partition,
    offset: Offset,
    body: RedriveRequest,
) -> RecordRedriven:
    """Republish a dead letter to its source topic (the dead-letter topic's name says which),
    as received or with a corrected value, once: recorded as RecordRedriven naming the
    operator key's owner. 409 when it (or its source record) was redriven before."""
    return await dead_letters.redrive(
        runtime,
        dead_letter_topic=topic,
        partition=partition,
        offset=offset,
        corrected=body.value,
        reason=body.reason,
        by=caller,
    )


@router.get("/outbox-parking", response_model=list[ParkedRow], responses=REFUSALS)
async def list_parked_rows(caller: Operator, db: Db) -> list[dict[str, Any]]:
    """Outbox rows of this service the broker refused for good, parked until released."""
    return [dict(row) for row in await outbox_parking.parked_rows(db)]


@router.get("/consumer-parking", response_model=list[ConsumerParkedRecord], responses=REFUSALS)
async def list_consumer_parked_records(caller: Operator, db: Db) -> list[dict[str, Any]]:
    """Records this service's consumer parked: event types newer than its contracts (a
    producer upgraded first). Deploying a version that knows them applies them at start."""
    return [dict(row) for row in await consumer_parking.parked_rows(db)]


@router.post("/outbox-parking/release", response_model=ReleaseResult, responses=REFUSALS)
async def release_parked_rows(
    caller: Operator, body: ReleaseRequest, db: Db, runtime: Runtime
) -> ReleaseResult:
    """Retry parked rows (once the cause is fixed), in id order: recorded as
    OutboxRowsReleased naming the operator key's owner."""
    chosen = body.outbox_ids if isinstance(body.outbox_ids, list) else None  # None: all
    return await release(db, runtime, outbox_ids=chosen, by=caller, reason=body.reason)


async def release(
    conn: asyncpg.Connection,
    runtime: ServiceRuntime[Any],
    *,
    outbox_ids: list[int] | None,
    by: Principal,
    reason: str,
) -> ReleaseResult:
    """Release the rows (all when None) and record who did, in one transaction."""
    async with conn.transaction():
        released = await outbox_parking.release(
            conn, channel=outbox.notify_channel(runtime.schema), outbox_ids=outbox_ids
        )
        audit = None
        if released:
            audit = OutboxRowsReleased(
                producer=runtime.settings.service_name,
                outbox_ids=tuple(r.outbox_id for r in released),
                event_ids=tuple(r.event_id for r in released),
                released_by=by.key_id,
                reason=reason,
            )
            await outbox.append(conn, [audit])
    ids = [r.outbox_id for r in released]
    return ReleaseResult(
        released=ids,
        not_parked=sorted(set(outbox_ids or ()) - set(ids)),
        audit=audit,
    )
