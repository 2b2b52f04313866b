-- Fulfilment's copy of the catalogue is built from CatalogueItemDefined (order intake owns
-- the catalogue), no longer seeded from the sample company. An item the owner removed is
-- kept with active = false: orders placed while it was active still need its supplier and
-- bill of materials. `changed_at` is when the owner changed it (the event's occurred_at): an
-- older change arriving late changes nothing. Rows seeded before this migration have none,
-- so the owner's first event about them wins.
ALTER TABLE catalogue_items ADD COLUMN active boolean NOT NULL DEFAULT true;
ALTER TABLE catalogue_items ADD COLUMN changed_at timestamptz;
