-- Breaches monitoring retracted (SlaBreachRetracted, issue 22): a late ending event showed the
-- stage ended by its deadline. Recorded once per breach, in the transaction that drops its
-- waiting claim or reverses its credit note (a credit note of kind `reversal`), so a
-- redelivered retraction changes nothing and a breach arriving after its retraction (a
-- redrive) credits nothing.
CREATE TABLE retracted_breaches (
    breach_event_id     uuid PRIMARY KEY,
    order_id            uuid NOT NULL,
    retraction_event_id uuid NOT NULL,
    retracted_at        timestamptz NOT NULL
);
