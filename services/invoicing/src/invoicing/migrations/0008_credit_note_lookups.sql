-- A credit note is looked up by its invoice (what was credited so far, on every SLA credit and
-- dispute) and by the breach that caused it (a retraction reverses it): without these, each
-- lookup scanned every credit note ever issued.
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);
CREATE INDEX credit_notes_cause ON credit_notes (cause_event_id);
