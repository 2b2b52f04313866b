-- SLA policies, loaded at start from the sample company (or MONITORING_SLA_POLICIES_JSON).
CREATE TABLE sla_policies (
    policy_id  integer PRIMARY KEY,
    supplier   text NOT NULL,
    requester  text,
    priority   text,
    policy     jsonb NOT NULL   -- the whole SlaPolicy contract model
);
CREATE INDEX sla_policies_supplier ON sla_policies (supplier);

ALTER TABLE orders ADD COLUMN placed_at timestamptz;

-- The clock of each stage: stored when the stage starts, so it survives restarts and any
-- replica can fire it (SELECT ... FOR UPDATE SKIP LOCKED).
ALTER TABLE stages
    ADD COLUMN employee_id      text,
    ADD COLUMN start_event_id   uuid,
    ADD COLUMN traceparent      text,
    ADD COLUMN policy_id        integer,
    ADD COLUMN target_s         double precision,
    ADD COLUMN warn_at          timestamptz,
    ADD COLUMN deadline         timestamptz,
    ADD COLUMN warning_raised_at timestamptz,
    ADD COLUMN breach_raised_at  timestamptz;
CREATE INDEX stages_warning_due ON stages (warn_at)
    WHERE ended_at IS NULL AND warning_raised_at IS NULL AND warn_at IS NOT NULL;
CREATE INDEX stages_breach_due ON stages (deadline)
    WHERE ended_at IS NULL AND breach_raised_at IS NULL AND deadline IS NOT NULL;
CREATE INDEX stages_started ON stages (started_at);

-- Ratings of delivered orders (FeedbackGiven), for the scorecards.
CREATE TABLE feedback (
    event_id    uuid PRIMARY KEY,
    order_id    uuid NOT NULL,
    supplier    text NOT NULL,
    requester   text NOT NULL,
    rating      integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
    occurred_at timestamptz NOT NULL
);
CREATE INDEX feedback_occurred ON feedback (occurred_at);
CREATE INDEX handoff_events_type ON handoff_events (event_type, occurred_at);
