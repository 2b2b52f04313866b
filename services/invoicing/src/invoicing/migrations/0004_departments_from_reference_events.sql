-- Invoicing's copy of the departments is built from DepartmentDefined (order intake owns
-- them), no longer seeded from the sample company. A department the owner removed is kept
-- with active = false: orders it placed or supplied while active are still invoiced to the
-- cost centre it had. `changed_at` is when the owner changed it (the event's occurred_at): an
-- older change arriving late changes nothing. Rows seeded before this migration have none,
-- so the owner's first event about them wins. Issued invoices keep the parties they froze.
ALTER TABLE departments ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE departments ADD COLUMN changed_at timestamptz;
