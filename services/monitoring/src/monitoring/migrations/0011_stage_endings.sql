-- How a stage ended when its order ended first (issue 22, item 5): the supplier rejected the
-- order, a cancellation was settled (WorkCancelled), or a sub-order blocked it for good
-- (OrderBlocked). Such a stage is closed with its outcome, never judged met, and no breach is
-- raised after it. NULL: the stage ended by its own ending event, or still runs.
ALTER TABLE stages
    ADD COLUMN outcome text CHECK (outcome IN ('rejected', 'cancelled', 'blocked')),
    -- the event that ended the stage (a retraction names it) and its type
    ADD COLUMN end_event_id uuid,
    ADD COLUMN end_event_type text,
    -- a breach proved wrong by a late ending event (SlaBreachRetracted, issue 22, item 3)
    ADD COLUMN breach_retracted_at timestamptz;

-- Stages of orders that ended before this migration: closed at the order's first ending event
-- with its outcome, as the service closes them now (the clock scan would otherwise breach a
-- rejected order's end-to-end stage). The durations are wall-clock, as the service records
-- them; a paused clock keeps its pause columns as they stood (a replay of such an order may
-- differ on paused_s / paused_since).
WITH ending AS (
    SELECT DISTINCT ON (order_id) order_id, event_id, event_type, occurred_at,
           CASE event_type WHEN 'OrderRejected' THEN 'rejected'
                           WHEN 'WorkCancelled' THEN 'cancelled'
                           ELSE 'blocked' END AS outcome
    FROM handoff_events
    WHERE event_type IN ('OrderRejected', 'WorkCancelled', 'OrderBlocked')
    ORDER BY order_id, occurred_at, event_id
)
UPDATE stages s
   SET ended_at = COALESCE(s.ended_at, GREATEST(e.occurred_at, s.started_at)),
       duration_s = COALESCE(s.duration_s, GREATEST(0, extract(epoch FROM
                        COALESCE(s.ended_at, GREATEST(e.occurred_at, s.started_at))
                        - s.started_at))),
       outcome = e.outcome,
       end_event_id = e.event_id,
       end_event_type = e.event_type
  FROM ending e
 WHERE s.order_id = e.order_id
   AND s.started_at IS NOT NULL
   AND (s.ended_at IS NULL OR s.ended_at = GREATEST(e.occurred_at, s.started_at));
