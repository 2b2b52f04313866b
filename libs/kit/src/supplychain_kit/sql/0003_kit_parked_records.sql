-- Consumed records of an event type the consumer did not know (a producer upgraded before
-- it): parked as received, in the transaction of their batch, so the partition moves on and
-- nothing is lost; applied (through the inbox) and deleted when a consumer that knows the
-- type starts (supplychain_kit.consumer_parking).
CREATE TABLE parked_records (
    id             bigserial PRIMARY KEY,
    consumer_group text NOT NULL,
    topic          text NOT NULL,
    partition      integer NOT NULL,
    "offset"       bigint NOT NULL,
    key            bytea,
    headers        jsonb NOT NULL DEFAULT '[]'::jsonb,  -- [[name, value], ...] as received
    value          bytea NOT NULL,
    event_type     text NOT NULL,
    first_seen_at  timestamptz NOT NULL DEFAULT now()
);
-- A record fetched again (a batch retried, an offset not committed yet) is parked once; the
-- value is part of the key because the embedded broker starts its offsets anew on restart.
CREATE UNIQUE INDEX parked_records_once
    ON parked_records (consumer_group, topic, partition, "offset", md5(value));
CREATE INDEX parked_records_by_group ON parked_records (consumer_group, event_type, id);
