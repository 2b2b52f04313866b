-- SlaBreached carries the service credit of the policy monitoring timed the stage with, so
-- invoicing stops resolving SLA policies (one owner per rule). A breach that waits for its
-- invoice keeps the percentage it carried; NULL for a cancellation, and for a breach
-- published before the event carried it (such a breach credits nothing). Unscaled numeric:
-- a waiting claim credits exactly what one settled at once would. Claims stored before this
-- migration have no percentage and credit nothing when their invoice comes.
ALTER TABLE pending_credits
    ADD COLUMN service_credit_pct numeric CHECK (service_credit_pct BETWEEN 0 AND 100);

DROP TABLE sla_policies;
DROP TABLE order_terms;
