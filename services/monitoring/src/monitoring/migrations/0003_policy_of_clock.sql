-- The policy a clock runs under, as the contract names it (SlaWarning/SlaBreached carry it),
-- and the service credit it grants on a breach (invoicing applies it).
ALTER TABLE stages
    ADD COLUMN policy_key          text,
    ADD COLUMN policy_version      integer,
    ADD COLUMN service_credit_pct  numeric(5, 2);
