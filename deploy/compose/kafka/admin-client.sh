#!/usr/bin/env bash
# Writes the broker admin's client settings (SASL/PLAIN; the password from
# BROKER_ADMIN_PASSWORD) and prints the file's path, for the Kafka tools:
#   kafka-topics.sh --command-config "$(bash /scripts/admin-client.sh)" ...
set -euo pipefail
file=/tmp/admin-client.properties
umask 077
cat > "$file" <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=PLAIN
sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="${BROKER_ADMIN_PASSWORD:?BROKER_ADMIN_PASSWORD is not set}";
PROPERTIES
echo "$file"
