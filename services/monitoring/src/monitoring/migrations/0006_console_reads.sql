-- What the operator console reads every 2 s, without scanning the tables:
-- the newest chains (root orders by placement),
CREATE INDEX orders_roots_placed ON orders (placed_at DESC NULLS LAST)
    WHERE order_id = root_order_id;
-- the running stages by deadline (breached ones included, unlike stages_breach_due),
CREATE INDEX stages_running_deadline ON stages (deadline)
    WHERE ended_at IS NULL AND deadline IS NOT NULL;
-- and the alarms raised today.
CREATE INDEX stages_warning_raised ON stages (warning_raised_at)
    WHERE warning_raised_at IS NOT NULL;
CREATE INDEX stages_breach_raised ON stages (breach_raised_at)
    WHERE breach_raised_at IS NOT NULL;
