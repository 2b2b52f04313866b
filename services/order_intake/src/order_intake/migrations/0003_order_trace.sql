-- The trace context of the request that placed the order: later commands on the order
-- (approve, cancel) join that trace, so a root order is one trace.
ALTER TABLE orders ADD COLUMN trace_headers jsonb NOT NULL DEFAULT '{}'::jsonb;
