"""The relay producer's partitioner puts every key where aiokafka's default puts it."""

from __future__ import annotations

import random

from aiokafka.partitioner import DefaultPartitioner, murmur2
from supplychain_kit.messaging import partitioner


def test_murmur2_matches_the_kafka_clients_hash_for_every_tail_length() -> None:
    rng = random.Random(7)
    keys = [rng.randbytes(length) for length in range(0, 70) for _ in range(20)]
    keys.append(b"FRAMES:3f2c8a1e-6a55-4d3e-9a59-0c1d2e3f4a5b")
    assert [partitioner.murmur2(key) for key in keys] == [murmur2(key) for key in keys]


def test_a_key_gets_the_default_partitioners_partition() -> None:
    rng = random.Random(11)
    default = DefaultPartitioner()
    for count in (1, 3, 7):
        partitions = list(range(count))
        for _ in range(200):
            key = rng.randbytes(rng.randrange(1, 60))
            assert partitioner.partition_for(key, partitions, partitions) == default(
                key, partitions, partitions
            )


def test_a_record_without_a_key_goes_to_an_available_partition() -> None:
    assert partitioner.partition_for(None, [0, 1, 2], [2]) == 2
