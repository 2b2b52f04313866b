-- Accounting periods per legal entity: a month without a row is open. Closing takes the
-- entity's period lock exclusively (postings hold it shared), so nothing posts into a month
-- while or after it closes: late documents go to the first open month (original_period).
CREATE TABLE accounting_periods (
    legal_entity text NOT NULL,
    period       text NOT NULL CHECK (period ~ '^\d{4}-(0[1-9]|1[0-2])$'),
    status       text NOT NULL CHECK (status IN ('open', 'closed')),
    closed_at    timestamptz,
    closed_by    text,
    PRIMARY KEY (legal_entity, period)
);

-- Every close and reopen: who (the finance key's id), when and why. Never edited.
CREATE TABLE period_changes (
    change_id    bigserial PRIMARY KEY,
    legal_entity text NOT NULL,
    period       text NOT NULL,
    action       text NOT NULL CHECK (action IN ('closed', 'reopened')),
    changed_at   timestamptz NOT NULL,
    changed_by   text NOT NULL,
    reason       text NOT NULL DEFAULT '',
    statements   integer NOT NULL DEFAULT 0  -- statements snapshotted (close) or dropped (reopen)
);
CREATE INDEX period_changes_month ON period_changes (legal_entity, period, change_id);

-- A closed month's statements are final: the bytes served on every read, with their digest.
-- Dropped when the month is reopened (the reopen is audited in period_changes).
CREATE TABLE statement_snapshots (
    department   text NOT NULL,
    period       text NOT NULL,
    legal_entity text NOT NULL,
    json_body    bytea NOT NULL,
    csv_body     bytea NOT NULL,
    digest       text NOT NULL,
    taken_at     timestamptz NOT NULL,
    PRIMARY KEY (department, period)
);
CREATE INDEX statement_snapshots_month ON statement_snapshots (legal_entity, period);

-- A requester disputes part of an invoice; the supplier accepts (a credit note of kind
-- `dispute`) or rejects it. Open too long (business days), it is escalated to finance.
CREATE TABLE disputes (
    dispute_id     uuid PRIMARY KEY,
    invoice_id     uuid NOT NULL REFERENCES invoices (invoice_id),
    order_id       uuid NOT NULL,
    root_order_id  uuid NOT NULL,
    supplier       text NOT NULL,
    requester      text NOT NULL,
    currency       text NOT NULL,
    amount         numeric(18, 2) NOT NULL CHECK (amount > 0),
    reason         text NOT NULL,
    status         text NOT NULL CHECK (status IN ('open', 'escalated', 'accepted', 'rejected')),
    opened_at      timestamptz NOT NULL,
    opened_by      text NOT NULL,
    opened_event   uuid NOT NULL,  -- DisputeOpened's event_id: what the credit note follows
    escalate_at    timestamptz NOT NULL,
    escalated_at   timestamptz,
    settled_at     timestamptz,
    settled_by     text,
    settle_reason  text,
    credit_note_id uuid,
    trace_id       text
);
CREATE INDEX disputes_invoice ON disputes (invoice_id);
CREATE INDEX disputes_supplier ON disputes (supplier, opened_at);
CREATE INDEX disputes_requester ON disputes (requester, opened_at);
CREATE INDEX disputes_due ON disputes (escalate_at) WHERE status = 'open';

-- What invoicing consumed about an order (fulfilment and SLA events): a dispute's evidence,
-- the order's handoff timeline as invoicing knows it, with the trace each record carried.
CREATE TABLE order_evidence (
    order_id    uuid NOT NULL,
    event_id    uuid NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    trace_id    text,
    PRIMARY KEY (order_id, event_id)
);
