-- Each supplier department's work: one row per order it supplies.
CREATE TABLE work_items (
    order_id          uuid PRIMARY KEY,
    root_order_id     uuid NOT NULL,
    parent_order_id   uuid,
    supplier          text NOT NULL,
    requester         text NOT NULL,
    employee_id       text,
    priority          text NOT NULL,
    needed_by         date,
    currency          text NOT NULL,
    lines             jsonb NOT NULL,
    status            text NOT NULL,
    reason            text,
    last_event_id     uuid NOT NULL,
    trace_headers     jsonb NOT NULL DEFAULT '{}'::jsonb,
    received_at       timestamptz NOT NULL DEFAULT now(),
    status_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX work_items_queue ON work_items (supplier, status, status_changed_at);
CREATE INDEX work_items_due ON work_items (status, status_changed_at);
