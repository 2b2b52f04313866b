-- The reference entities this service has learnt from supplychain.reference.v1 (whatever
-- copy tables it builds from them): what `GET /v1/reference/status` reports, so an operator
-- (or a test) sees that a change reached the service.
CREATE TABLE reference_seen (
    entity_key  text PRIMARY KEY,
    kind        text NOT NULL,
    event_type  text NOT NULL,
    event_id    uuid NOT NULL,
    occurred_at timestamptz NOT NULL,
    active      boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
