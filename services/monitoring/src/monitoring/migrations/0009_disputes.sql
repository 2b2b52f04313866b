-- Disputes of invoices (issue 21) as monitoring learns them from invoicing's events
-- (DisputeOpened, DisputeEscalated, DisputeSettled): its own copy for the console's panel of
-- open disputes. Invoicing owns the disputes; each column is set by the event that states it
-- (the first seen wins), so the events may be applied in any order.
CREATE TABLE disputes (
    dispute_id   uuid PRIMARY KEY,
    invoice_id   uuid NOT NULL,
    order_id     uuid NOT NULL,
    supplier     text NOT NULL,
    requester    text NOT NULL,
    amount       numeric,
    currency     text,
    reason       text,
    opened_at    timestamptz,
    escalated_at timestamptz,
    settled_at   timestamptz,
    outcome      text CHECK (outcome IN ('accepted', 'rejected'))
);
-- the open ones (not settled), oldest first
CREATE INDEX disputes_unsettled ON disputes (opened_at) WHERE settled_at IS NULL;
