-- Outbox rows the broker refused (a record too large, a topic that does not exist, ...):
-- retried with backoff, then parked until an operator releases them
-- (`python -m supplychain_kit.outbox_parking release`). While a key has a row here, the
-- relay publishes no later row of that key, so the order's events keep their order.
CREATE TABLE outbox_failures (
    outbox_id       bigint PRIMARY KEY REFERENCES outbox (id) ON DELETE CASCADE,
    key             text NOT NULL,
    topic           text NOT NULL,
    attempts        integer NOT NULL,
    last_error      text NOT NULL,
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    retry_at        timestamptz NOT NULL,
    parked_at       timestamptz   -- NULL while the relay still retries it
);
CREATE INDEX outbox_failures_key ON outbox_failures (key);
