"""Messaging: how a service's events leave and arrive, exactly once in effect.

What belongs here is what works on records and the tables beside them, never on an HTTP
request: the outbox and its relay (`outbox`) with the rows the broker refused for good
(`outbox_parking`); the reliable consumer (`consumer`, its dispatch tables in `dispatch`,
its configuration, batch tracing and retryable errors) with the inbox that de-duplicates it
(`inbox`), the records of event types it does not know yet (`consumer_parking`, `known_events`)
and its adaptive fetch wait (`fetch_wait`); the consumer lag measured from the broker (`lag`);
dead letters and the rules for redriving them (`dead_letters`, `redrive_rules`).
`effects` holds the side effects that wait for the consumer's commit, and `reference` the
reference events a consumer notes and an owner publishes through the outbox: both exist for
the consumer's and the outbox's transaction, so they live with them. The operator routes
over these (dead letters, parking) are HTTP and live in `supplychain_kit.http.operator_api`.
"""
