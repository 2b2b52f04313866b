"""Slow readers of the OCEL export cannot stop a service's own work (issue 23).

Monitoring holds a month of orders; a dozen clients each ask for its OCEL export, read a few
bytes and stall, their sockets open and their receive windows tiny. Meanwhile orders flow: the
consumer still applies every event, an acceptance deadline still breaches on time, another
client's export and the reads still answer. (Before, each stalled download held a pooled
connection and its snapshot, and about ten of them stopped the consumer and the clocks.)"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from supplychain_contracts import topics
from support import auth, poll_http, read_records
from support.monitoring import accepted, alarms_of, placed, policies_env, publish_all, stage_of

# the export is company-wide process data: for analyst keys only
ANALYST = {"Authorization": "Bearer dev-analyst-1"}
pytestmark = pytest.mark.integration

ORDERS_IN_THE_MONTH = 100
SLOW_READERS = 12
ACCEPTANCE_S = 4
# the clock's scan and grace (policies_env) and a loaded two-core machine
ON_TIME_S = 4.0


def start_slow_reader(port: int, path: str, key: str) -> tuple[socket.socket, bytes]:
    """Ask for `path`, read the first bytes of the answer, then read nothing more."""
    reader = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    reader.settimeout(30)
    reader.connect(("127.0.0.1", port))
    request = f"GET {path} HTTP/1.1\r\nHost: monitoring\r\nAuthorization: Bearer {key}\r\n\r\n"
    reader.sendall(request.encode())
    return reader, reader.recv(64)


@contextmanager
def closing_all(readers: list[socket.socket]) -> Iterator[None]:
    try:
        yield
    finally:
        for reader in readers:
            reader.close()


async def test_stalled_export_readers_leave_the_consumer_and_the_clocks_alone(
    start_service, broker
) -> None:
    env = policies_env({"acceptance": ACCEPTANCE_S, "end_to_end": 3600}) | {
        "DATABASE_POOL_SIZE": "4",
        "DATABASE_EXPORT_POOL_SIZE": "2",
    }
    monitoring = start_service("monitoring", env=env)
    bootstrap = broker.bootstrap_servers
    now = datetime.now(UTC)
    period = now.strftime("%Y-%m")
    month = [uuid.uuid4() for _ in range(ORDERS_IN_THE_MONTH)]
    await publish_all(
        bootstrap,
        [e for o in month for e in (placed(o, now), accepted(o, now + timedelta(seconds=1)))],
    )
    export_path = f"/v1/exports/ocel2?period={period}"
    async with httpx.AsyncClient(
        base_url=monitoring.url, headers=auth("ASSEMBLY"), timeout=30
    ) as client:
        await poll_http(
            client,
            f"/v1/orders/{month[-1]}/handoffs",
            until=lambda r: r.status_code == 200 and any(h["status"] == "met" for h in r.json()),
        )
        full = await client.get(export_path, headers=ANALYST)
        assert full.status_code == 200
        assert len(full.content) > 64 * 1024  # past the server's write buffer: readers block

        stalled = await asyncio.gather(
            *(
                asyncio.to_thread(start_slow_reader, monitoring.port, export_path, "dev-analyst-1")
                for _ in range(SLOW_READERS)
            )
        )
        readers = [reader for reader, _ in stalled]
        with closing_all(readers):
            statuses = [first.split(b" ", 2)[1] for _, first in stalled]
            assert statuses.count(b"200") >= SLOW_READERS // 2, statuses  # most are downloading

            # orders flow: one is never accepted, one is accepted in time
            late, prompt = uuid.uuid4(), uuid.uuid4()
            placed_late, placed_prompt = placed(late), placed(prompt)
            await publish_all(bootstrap, [placed_late, placed_prompt])
            await publish_all(bootstrap, [accepted(prompt)])

            # the consumer applies them, and the reads answer
            await poll_http(
                client,
                f"/v1/orders/{prompt}/handoffs",
                until=lambda r: (
                    r.status_code == 200
                    and any(h["stage"] == "acceptance" and h["status"] == "met" for h in r.json())
                ),
                timeout=20,
            )
            # the clock breaches the late one on time
            records = await read_records(
                bootstrap,
                [topics.SLA],
                until=lambda rs: "SlaBreached:acceptance" in alarms_of(rs, late),
                timeout=ACCEPTANCE_S + 20,
            )
            breach = next(
                r
                for r in records
                if r.json["order_id"] == str(late) and r.json["event_type"] == "SlaBreached"
            )
            deadline = placed_late.occurred_at + timedelta(seconds=ACCEPTANCE_S)
            raised = datetime.fromisoformat(breach.json["occurred_at"].replace("Z", "+00:00"))
            assert deadline <= raised <= deadline + timedelta(seconds=ON_TIME_S), raised - deadline
            assert "SlaBreached:acceptance" not in alarms_of(records, prompt)

            # another client's export is answered, whole, while the readers still stall
            again = await client.get(export_path, headers=ANALYST)
            assert again.status_code == 200
            assert again.headers["content-length"] == str(len(again.content))
            acceptance = await stage_of(client, late, "acceptance")
            assert acceptance is not None
            assert acceptance["status"] == "breached"
