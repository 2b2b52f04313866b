-- Fulfilment's own copy of the catalogue: who supplies a sku, at what transfer price, and
-- from which components it is made (loaded from the sample company; no reads of intake's tables).
CREATE TABLE catalogue_items (
    sku               text PRIMARY KEY,
    supplier          text NOT NULL,
    transfer_price    numeric(18, 2) NOT NULL,
    bill_of_materials jsonb NOT NULL DEFAULT '[]'::jsonb
);

-- The sub-orders a supplier raised for the components of one of its orders, as the parent
-- sees them (kept up to date from the sub-orders' own fulfilment events).
CREATE TABLE sub_orders (
    order_id          uuid PRIMARY KEY,
    parent_order_id   uuid NOT NULL REFERENCES work_items (order_id),
    sku               text NOT NULL,
    quantity          integer NOT NULL CHECK (quantity > 0),
    supplier          text NOT NULL,
    status            text NOT NULL,
    reason            text,
    status_changed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sub_orders_parent ON sub_orders (parent_order_id);

-- One rating per delivered order (the primary key makes a second one impossible).
CREATE TABLE feedback (
    order_id   uuid PRIMARY KEY REFERENCES work_items (order_id),
    rating     smallint NOT NULL CHECK (rating BETWEEN 1 AND 5),
    comment    text NOT NULL DEFAULT '',
    event_id   uuid NOT NULL,
    given_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE help_requests (
    event_id     uuid PRIMARY KEY,
    order_id     uuid NOT NULL REFERENCES work_items (order_id),
    subject      text NOT NULL,
    message      text NOT NULL DEFAULT '',
    requested_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX help_requests_order ON help_requests (order_id);
