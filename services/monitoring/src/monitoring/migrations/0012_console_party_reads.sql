-- The console opened with a department's key (issue 23) shows the chains below the orders it
-- is party to: each chain is walked down from its top order by parent, not by root.
CREATE INDEX orders_parent ON orders (parent_order_id) WHERE parent_order_id IS NOT NULL;
