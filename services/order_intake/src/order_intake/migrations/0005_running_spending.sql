-- What each department has committed this month and each employee this year, kept as a
-- running total by triggers on `orders`, so a budget or allowance check reads one row
-- instead of summing the month's orders (its cost no longer grows with the month).
-- An order counts while it is live; it stops counting when it is cancelled or rejected
-- (and counts again should it ever leave those states). Periods are UTC, as before.
CREATE TABLE spending (
    subject    text NOT NULL,           -- department:<code> (its own orders) or employee:<id>
    period     date NOT NULL,           -- first day of the month (departments) or year (employees)
    committed  numeric(18, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (subject, period)
);

CREATE FUNCTION spending_key(o orders) RETURNS TABLE (subject text, period date)
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN o.employee_id IS NULL THEN 'department:' || o.requester
                ELSE 'employee:' || o.employee_id END,
           CASE WHEN o.employee_id IS NULL
                THEN date_trunc('month', o.created_at AT TIME ZONE 'UTC')::date
                ELSE date_trunc('year', o.created_at AT TIME ZONE 'UTC')::date END
$$;

CREATE FUNCTION order_commits(o orders) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN o.status IN ('cancelled', 'rejected') THEN 0 ELSE o.total END
$$;

CREATE FUNCTION track_spending() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    delta numeric := order_commits(NEW);
BEGIN
    IF TG_OP = 'UPDATE' THEN
        delta := delta - order_commits(OLD);
    END IF;
    IF delta <> 0 THEN
        INSERT INTO spending (subject, period, committed)
        SELECT k.subject, k.period, delta FROM spending_key(NEW) AS k
        ON CONFLICT (subject, period)
        DO UPDATE SET committed = spending.committed + EXCLUDED.committed;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_spending_insert AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION track_spending();
-- only the updates that change what an order commits: most status changes do not
CREATE TRIGGER orders_spending_update AFTER UPDATE OF status, total ON orders
    FOR EACH ROW WHEN (order_commits(OLD) IS DISTINCT FROM order_commits(NEW))
    EXECUTE FUNCTION track_spending();

-- what the orders placed before this migration commit
INSERT INTO spending (subject, period, committed)
SELECT k.subject, k.period, sum(order_commits(o))
FROM orders AS o, LATERAL spending_key(o) AS k
GROUP BY k.subject, k.period;
