-- An order a sub-order blocked (OrderBlocked: it never ships, only a cancellation is left) is
-- `blocked` in this read model, as in fulfilment and monitoring (issue 22); it used to stay
-- in the status it had (`awaiting_components`). Orders blocked before this migration and not
-- ended since (cancelled, rejected) say so now.
UPDATE orders o SET status = 'blocked', updated_at = now()
 WHERE o.status IN ('accepted', 'in_progress', 'awaiting_components')
   AND EXISTS (SELECT 1 FROM order_timeline t
               WHERE t.order_id = o.order_id AND t.event_type = 'OrderBlocked');
