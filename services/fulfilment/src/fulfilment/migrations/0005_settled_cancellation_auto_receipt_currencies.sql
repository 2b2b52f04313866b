-- Issue 21, money a finance team signs off.
-- A cancellation is a request the supplier settles: the latest one settled (a redelivered
-- request changes nothing) and, when refused, why (shown on the work item and the queue).
ALTER TABLE work_items ADD COLUMN cancellation_request_id uuid;
ALTER TABLE work_items ADD COLUMN cancellation_refused text;
-- The order's translation into its requester's currency, copied from its OrderPlaced (absent
-- when both are the same), carried by its OrderDelivered.
ALTER TABLE work_items ADD COLUMN requester_currency text;
ALTER TABLE work_items ADD COLUMN fx_rate numeric(20, 10);
-- Auto-receipt: when it shipped, and when its delivery is confirmed for the requester unless
-- the requester confirms first (the policy's window in business time after shipment).
ALTER TABLE work_items ADD COLUMN shipped_at timestamptz;
ALTER TABLE work_items ADD COLUMN auto_receipt_due_at timestamptz;
-- Orders on their way at upgrade shipped when they last changed state; they get the default
-- window of a round-the-clock calendar (5 days), as an order shipped under no policy does.
UPDATE work_items SET shipped_at = status_changed_at,
                      auto_receipt_due_at = status_changed_at + interval '5 days'
WHERE status = 'shipped';
CREATE INDEX work_items_auto_receipt ON work_items (auto_receipt_due_at)
    WHERE status = 'shipped' AND auto_receipt_due_at IS NOT NULL;

-- Fulfilment's copies of reference data others own, built from the reference topic.
-- SLA policy versions (monitoring owns them): the auto-receipt window and its calendar.
-- `position`: the order versions arrived in; a policy's first one ranks it among equals.
CREATE TABLE sla_policy_versions (
    policy_id      text NOT NULL,
    version        integer NOT NULL,
    effective_from timestamptz NOT NULL,
    active         boolean NOT NULL,
    policy         jsonb NOT NULL,
    position       bigint GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (policy_id, version)
);
-- Named business calendars (monitoring owns them), as last defined.
CREATE TABLE business_calendars (
    code       text PRIMARY KEY,
    calendar   jsonb NOT NULL,
    active     boolean NOT NULL,
    changed_at timestamptz NOT NULL
);
-- Legal entities and departments (order intake owns them): a sub-order's currencies.
CREATE TABLE legal_entities (
    code       text PRIMARY KEY,
    currency   text NOT NULL,
    changed_at timestamptz NOT NULL
);
CREATE TABLE departments (
    code         text PRIMARY KEY,
    legal_entity text NOT NULL,
    changed_at   timestamptz NOT NULL
);
-- Exchange rates (order intake owns them): 1 base = rate quote from valid_from on.
CREATE TABLE fx_rates (
    base       text NOT NULL,
    quote      text NOT NULL,
    valid_from date NOT NULL,
    rate       numeric(20, 10) NOT NULL,
    active     boolean NOT NULL,
    changed_at timestamptz NOT NULL,
    PRIMARY KEY (base, quote, valid_from)
);
