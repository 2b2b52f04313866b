#!/usr/bin/env bash
# Each service is a Kafka principal of its own (SCRAM-SHA-512) that writes only the topics it
# produces (and the .dlq twins of those it consumes: its dead letters) and reads only the
# topics it consumes, in its own consumer group; monitoring also reads the other groups'
# offsets (their lag). For its operator routes a service reads the dead letters of the topics
# it produces and the redrives topic, and writes the redrives topic (it redrives its own
# topics' dead letters and records who asked). The operators' principal only reads the
# contract topics (the CLI's `replay`): redrives go through the producing service.
# Idempotent: run by topic-init (create-topics.sh) as the broker admin on every `make up`.
# tests/deploy checks these ACLs against each service's consumes/produces (its main.py).
set -euo pipefail

BOOTSTRAP_SERVERS="${BOOTSTRAP_SERVERS:-kafka:9092}"
ADMIN_CONFIG="$(bash "${ADMIN_CLIENT_SCRIPT:-/scripts/admin-client.sh}")"
BIN="${KAFKA_BIN:-/opt/kafka/bin}"

principal() {  # name password
    "$BIN/kafka-configs.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" \
        --command-config "$ADMIN_CONFIG" --alter --entity-type users --entity-name "$1" \
        --add-config "SCRAM-SHA-512=[iterations=8192,password=$2]" > /dev/null
    echo "principal $1: SCRAM-SHA-512 credential set"
}

allow() {  # principal operation resource-type name...
    local who="$1" operation="$2" kind="$3"
    shift 3
    local resources=()
    for name in "$@"; do resources+=("--$kind" "$name"); done
    "$BIN/kafka-acls.sh" --bootstrap-server "$BOOTSTRAP_SERVERS" \
        --command-config "$ADMIN_CONFIG" --add --allow-principal "User:$who" \
        --operation "$operation" "${resources[@]}" > /dev/null
    echo "allow $who $operation $kind $*"
}

principal order-intake "${ORDER_INTAKE_PASSWORD:?}"
allow order-intake Write topic supplychain.orders.v1 supplychain.reference.v1 supplychain.operations.redrives.v1 supplychain.orders.v1.dlq supplychain.fulfilment.v1.dlq supplychain.invoicing.v1.dlq
allow order-intake Read topic supplychain.orders.v1 supplychain.fulfilment.v1 supplychain.invoicing.v1 supplychain.operations.redrives.v1 supplychain.orders.v1.dlq supplychain.reference.v1.dlq supplychain.operations.redrives.v1.dlq
allow order-intake Read group order-intake

principal fulfilment "${FULFILMENT_PASSWORD:?}"
allow fulfilment Write topic supplychain.orders.v1 supplychain.fulfilment.v1 supplychain.operations.redrives.v1 supplychain.orders.v1.dlq supplychain.reference.v1.dlq
allow fulfilment Read topic supplychain.orders.v1 supplychain.reference.v1 supplychain.operations.redrives.v1 supplychain.orders.v1.dlq supplychain.fulfilment.v1.dlq supplychain.operations.redrives.v1.dlq
allow fulfilment Read group fulfilment

principal invoicing "${INVOICING_PASSWORD:?}"
allow invoicing Write topic supplychain.invoicing.v1 supplychain.operations.redrives.v1 supplychain.fulfilment.v1.dlq supplychain.sla.v1.dlq supplychain.reference.v1.dlq
allow invoicing Read topic supplychain.fulfilment.v1 supplychain.sla.v1 supplychain.reference.v1 supplychain.operations.redrives.v1 supplychain.invoicing.v1.dlq supplychain.operations.redrives.v1.dlq
allow invoicing Read group invoicing

principal monitoring "${MONITORING_PASSWORD:?}"
allow monitoring Write topic supplychain.sla.v1 supplychain.reference.v1 supplychain.operations.redrives.v1 supplychain.orders.v1.dlq supplychain.fulfilment.v1.dlq supplychain.invoicing.v1.dlq supplychain.sla.v1.dlq supplychain.reference.v1.dlq supplychain.operations.redrives.v1.dlq
allow monitoring Read topic supplychain.orders.v1 supplychain.fulfilment.v1 supplychain.invoicing.v1 supplychain.sla.v1 supplychain.reference.v1 supplychain.operations.redrives.v1 supplychain.sla.v1.dlq supplychain.reference.v1.dlq supplychain.operations.redrives.v1.dlq
allow monitoring Read group monitoring
allow monitoring Describe group fulfilment invoicing order-intake

principal supplychain-operator "${OPERATOR_PASSWORD:?}"
allow supplychain-operator Read topic supplychain.orders.v1 supplychain.fulfilment.v1 supplychain.invoicing.v1 supplychain.sla.v1 supplychain.reference.v1 supplychain.operations.redrives.v1
