CREATE TABLE departments (
    code         text PRIMARY KEY,
    legal_entity text NOT NULL,
    cost_centre  text NOT NULL
);

-- An issued invoice is never edited: corrections are credit notes.
CREATE TABLE invoices (
    invoice_id            uuid PRIMARY KEY,
    order_id              uuid NOT NULL UNIQUE,
    root_order_id         uuid NOT NULL,
    supplier              text NOT NULL,
    requester             text NOT NULL,
    employee_id           text,
    supplier_cost_centre  text NOT NULL,
    requester_cost_centre text NOT NULL,
    payroll_deduction     boolean NOT NULL DEFAULT false,
    period                text NOT NULL,
    currency              text NOT NULL,
    total                 numeric(18, 2) NOT NULL,
    issued_at             timestamptz NOT NULL,
    delivered_event_id    uuid NOT NULL
);
CREATE INDEX invoices_period ON invoices (period, supplier, requester);

CREATE TABLE invoice_lines (
    invoice_id uuid NOT NULL REFERENCES invoices (invoice_id),
    line_no    integer NOT NULL,
    sku        text NOT NULL,
    quantity   integer NOT NULL,
    unit_price numeric(18, 2) NOT NULL,
    amount     numeric(18, 2) NOT NULL,
    PRIMARY KEY (invoice_id, line_no)
);
