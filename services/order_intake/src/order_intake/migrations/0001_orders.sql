CREATE TABLE departments (
    code                  text PRIMARY KEY,
    name                  text NOT NULL,
    legal_entity          text NOT NULL,
    cost_centre           text NOT NULL,
    monthly_budget        numeric(18, 2) NOT NULL,
    approval_threshold    numeric(18, 2),
    over_budget           text NOT NULL DEFAULT 'refuse',
    employee_shop         boolean NOT NULL DEFAULT false,
    employee_discount_pct numeric(5, 2) NOT NULL DEFAULT 0
);

CREATE TABLE catalogue (
    sku             text PRIMARY KEY,
    name            text NOT NULL,
    supplier        text NOT NULL REFERENCES departments (code),
    unit            text NOT NULL,
    standard_cost   numeric(18, 2) NOT NULL,
    transfer_price  numeric(18, 2) NOT NULL,
    list_price      numeric(18, 2),
    lead_time_days  integer NOT NULL,
    components      jsonb NOT NULL DEFAULT '[]'::jsonb
);

CREATE TABLE employees (
    employee_id      text PRIMARY KEY,
    name             text NOT NULL,
    department       text NOT NULL REFERENCES departments (code),
    yearly_allowance numeric(18, 2) NOT NULL
);

CREATE TABLE orders (
    order_id         uuid PRIMARY KEY,
    root_order_id    uuid NOT NULL,
    parent_order_id  uuid,
    requester        text NOT NULL,
    supplier         text NOT NULL,
    employee_id      text,
    priority         text NOT NULL,
    needed_by        date,
    currency         text NOT NULL,
    total            numeric(18, 2) NOT NULL,
    status           text NOT NULL,
    idempotency_key  text,
    request_hash     text,
    placed_event_id  uuid,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (requester, idempotency_key)
);
CREATE INDEX orders_requester_created ON orders (requester, created_at DESC);

CREATE TABLE order_lines (
    order_id   uuid NOT NULL REFERENCES orders (order_id),
    line_no    integer NOT NULL,
    sku        text NOT NULL,
    quantity   integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(18, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

-- The handoffs of an order as this service has seen them (read side).
CREATE TABLE order_timeline (
    event_id    uuid PRIMARY KEY,
    order_id    uuid NOT NULL,
    event_type  text NOT NULL,
    occurred_at timestamptz NOT NULL,
    detail      text
);
CREATE INDEX order_timeline_order ON order_timeline (order_id, occurred_at);
