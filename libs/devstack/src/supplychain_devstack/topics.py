"""Create the contract topics and their dead-letter twins."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from supplychain_contracts.topics import all_topics_with_dead_letters

TOPIC_ALREADY_EXISTS = 36


async def create_topics(bootstrap_servers: str, *, partitions: int = 3) -> list[str]:
    """Create missing topics; returns the ones created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [t for t in all_topics_with_dead_letters() if t not in existing]
        if not wanted:
            return []
        response = await admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in wanted]
        )
        for error in response.topic_errors:
            name, code = error[0], error[1]
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"cannot create topic {name}: error {code} {error[2:]}")
        return wanted
    finally:
        await admin.close()
