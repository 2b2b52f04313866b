-- Every event seen for an order, with its trace.
CREATE TABLE handoff_events (
    event_id      uuid PRIMARY KEY,
    order_id      uuid NOT NULL,
    root_order_id uuid NOT NULL,
    event_type    text NOT NULL,
    occurred_at   timestamptz NOT NULL,
    supplier      text,
    requester     text,
    trace_id      text
);
CREATE INDEX handoff_events_order ON handoff_events (order_id, occurred_at);

CREATE TABLE orders (
    order_id        uuid PRIMARY KEY,
    root_order_id   uuid NOT NULL,
    parent_order_id uuid,
    supplier        text NOT NULL,
    requester       text NOT NULL,
    priority        text NOT NULL DEFAULT 'standard',
    trace_id        text
);
CREATE INDEX orders_root ON orders (root_order_id);

-- One row per order and stage: when it started, when it ended.
CREATE TABLE stages (
    order_id      uuid NOT NULL,
    stage         text NOT NULL,
    root_order_id uuid NOT NULL,
    supplier      text NOT NULL,
    requester     text NOT NULL,
    started_at    timestamptz,
    ended_at      timestamptz,
    duration_s    double precision,
    trace_id      text,
    PRIMARY KEY (order_id, stage)
);
