-- Budgets and approval: who placed (and approved) an order, and the warnings it was accepted with.
ALTER TABLE orders
    ADD COLUMN placed_by_key_id   text,
    ADD COLUMN approved_by_key_id text,
    ADD COLUMN approved_at        timestamptz,
    ADD COLUMN warnings           text[] NOT NULL DEFAULT '{}';

-- Keyset pagination of a department's orders, newest first.
CREATE INDEX orders_requester_keyset ON orders (requester, created_at DESC, order_id DESC);
-- An employee's spending this year (the yearly allowance).
CREATE INDEX orders_employee_created ON orders (employee_id, created_at)
    WHERE employee_id IS NOT NULL;
