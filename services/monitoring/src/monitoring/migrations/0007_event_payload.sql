-- The typed fields of every event seen (its envelope and parties are the columns already
-- there): what the OCEL 2.0 export and the handoff analytics read (sub-order ids of
-- ComponentsRequested, invoice ids, pause reasons, ...). NULL for events recorded before.
ALTER TABLE handoff_events ADD COLUMN payload jsonb;
