-- Paused SLA clocks (issue 15): every event that starts or ends a wait of an order (the
-- supplier on the requester, on its sub-orders), by the time it happened; the intervals and
-- each clock's deadline are derived from all of them (monitoring.pauses), whatever order the
-- topics were read in.
CREATE TABLE pause_edges (
    event_id  uuid PRIMARY KEY,
    order_id  uuid NOT NULL,
    reason    text NOT NULL,
    pause_key text NOT NULL,   -- pairs a start with its end (the help request, or sub-orders)
    edge      text NOT NULL CHECK (edge IN ('start', 'end')),
    at        timestamptz NOT NULL
);
CREATE INDEX pause_edges_order ON pause_edges (order_id);

-- SlaPaused / SlaResumed written to the outbox (deterministic ids): each once per stage and
-- pause, across redeliveries and replicas.
CREATE TABLE pause_notices (
    event_id   uuid PRIMARY KEY,
    noticed_at timestamptz NOT NULL DEFAULT now()
);

-- What moving a clock needs (the reasons that stop it under its policy, the working time to
-- its warning, its calendar) and how it stands: business seconds its closed pauses took off,
-- and since when it stands still (NULL: it runs; the scheduler leaves it alone meanwhile).
ALTER TABLE stages
    ADD COLUMN pause_reasons text[] NOT NULL DEFAULT '{}',
    ADD COLUMN warning_s     double precision,
    ADD COLUMN calendar      jsonb,
    ADD COLUMN paused_s      double precision NOT NULL DEFAULT 0,
    ADD COLUMN paused_since  timestamptz;
