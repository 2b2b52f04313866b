-- Issue 21. An order is priced in its supplier's currency and charged to its requester's
-- budget (or an employee's allowance) translated at the rate valid on its date: the order
-- keeps the requester's currency, the rate (null: the same currency) and the translated
-- total, and the running totals count that translated total.
ALTER TABLE orders
    ADD COLUMN requester_currency text,
    ADD COLUMN fx_rate            numeric(20, 10),
    ADD COLUMN requester_total    numeric(18, 2),
    -- a sub-order (raised by fulfilment) that took its requester over budget: never refused
    ADD COLUMN over_budget        boolean NOT NULL DEFAULT false,
    -- a cancellation is a request the supplier settles: requested, cancelled or refused
    ADD COLUMN cancellation_status       text,
    ADD COLUMN cancellation_reason       text,
    ADD COLUMN cancellation_requested_at timestamptz,
    ADD COLUMN cancellation_settled_at   timestamptz;
UPDATE orders SET requester_currency = currency, requester_total = total;
ALTER TABLE orders
    ALTER COLUMN requester_currency SET NOT NULL,
    ALTER COLUMN requester_total SET NOT NULL;
CREATE INDEX orders_sub_orders ON orders (requester, created_at) WHERE parent_order_id IS NOT NULL;

CREATE OR REPLACE FUNCTION order_commits(o orders) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN o.status IN ('cancelled', 'rejected') THEN 0
                ELSE coalesce(o.requester_total, o.total) END
$$;

-- Exchange rates are reference data order intake owns (FxRateDefined): one row per pair and
-- day it is valid from (`rate_key` USD-EUR:2026-01-01), kept like the other kinds.
CREATE TABLE fx_rates (
    rate_key        text PRIMARY KEY,
    base            text NOT NULL,
    quote           text NOT NULL,
    rate            numeric(20, 10) NOT NULL,
    valid_from      date NOT NULL,
    definition      jsonb NOT NULL,
    file_definition jsonb,
    active          boolean NOT NULL DEFAULT true,
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL
);
CREATE INDEX fx_rates_pair ON fx_rates (base, quote, valid_from);
