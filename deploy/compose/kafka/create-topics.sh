#!/usr/bin/env bash
# Creates the contract topics (supplychain_contracts.topics.ALL_TOPICS) and their .dlq twins,
# then the principals and their ACLs (kafka-principals.sh). As the broker admin.
# Idempotent: run by the compose `topic-init` job on every `make up`.
# tests/deploy checks that this list matches ALL_TOPICS and all_topics_with_dead_letters().
set -euo pipefail

BOOTSTRAP_SERVERS="${BOOTSTRAP_SERVERS:-kafka:9092}"
REPLICATION_FACTOR="${REPLICATION_FACTOR:-1}"
KAFKA_TOPICS=/opt/kafka/bin/kafka-topics.sh
ADMIN_CONFIG="$(bash /scripts/admin-client.sh)"

WEEK_MS=604800000    # 7 days: contract topics
MONTH_MS=2592000000  # 30 days: dead letters wait for a human

create_topic() {  # name partitions retention_ms [cleanup_policy]
    "$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$ADMIN_CONFIG" \
        --create --if-not-exists \
        --topic "$1" --partitions "$2" --replication-factor "$REPLICATION_FACTOR" \
        --config "retention.ms=$3" --config "cleanup.policy=${4:-delete}"
    echo "topic $1: partitions=$2 retention.ms=$3 cleanup.policy=${4:-delete}"
}

create_topic supplychain.orders.v1 6 "$WEEK_MS"
create_topic supplychain.fulfilment.v1 6 "$WEEK_MS"
create_topic supplychain.invoicing.v1 6 "$WEEK_MS"
create_topic supplychain.sla.v1 6 "$WEEK_MS"
# Reference data: the latest event per entity is kept for good (compacted, no time limit).
create_topic supplychain.reference.v1 6 -1 compact
# Operations: each dead letter's latest redrive is kept for good (compacted, no time limit).
create_topic supplychain.operations.redrives.v1 6 -1 compact
create_topic supplychain.orders.v1.dlq 1 "$MONTH_MS"
create_topic supplychain.fulfilment.v1.dlq 1 "$MONTH_MS"
create_topic supplychain.invoicing.v1.dlq 1 "$MONTH_MS"
create_topic supplychain.sla.v1.dlq 1 "$MONTH_MS"
create_topic supplychain.reference.v1.dlq 1 "$MONTH_MS"
create_topic supplychain.operations.redrives.v1.dlq 1 "$MONTH_MS"

"$KAFKA_TOPICS" --bootstrap-server "$BOOTSTRAP_SERVERS" --command-config "$ADMIN_CONFIG" \
    --describe --topic 'supplychain\..*'

bash /scripts/kafka-principals.sh
