-- Monitoring owns SLA policies and business calendars: every definition is a version, never
-- overwritten or deleted (a removed entity gets an inactive version). A stage is timed by the
-- versions in force when it started; the replay copies these tables to time stages alike.
CREATE TABLE sla_policy_versions (
    policy_key     text NOT NULL,              -- SlaPolicy.policy_key: "ASSEMBLY:rush"
    version        integer NOT NULL CHECK (version >= 1),
    policy_number  integer NOT NULL,           -- stable per policy: stages.policy_id
    effective_from timestamptz NOT NULL,
    active         boolean NOT NULL,
    supplier       text NOT NULL,
    policy         jsonb NOT NULL,             -- the SlaPolicy contract model
    changed_by     text NOT NULL,              -- an admin key id, or company-file
    changed_at     timestamptz NOT NULL,
    PRIMARY KEY (policy_key, version)
);
CREATE INDEX sla_policy_versions_supplier ON sla_policy_versions (supplier);

CREATE TABLE calendar_versions (
    code            text NOT NULL,
    version         integer NOT NULL CHECK (version >= 1),
    calendar_number integer NOT NULL,
    effective_from  timestamptz NOT NULL,
    active          boolean NOT NULL,
    calendar        jsonb NOT NULL,            -- the NamedCalendar contract model
    changed_by      text NOT NULL,
    changed_at      timestamptz NOT NULL,
    PRIMARY KEY (code, version)
);

-- Who changed what, when: before and after are null where the entity did not exist.
CREATE TABLE reference_changes (
    change_id   bigserial PRIMARY KEY,
    entity_key  text NOT NULL,                 -- "sla_policy:ASSEMBLY:rush", "calendar:BERLIN"
    version     integer NOT NULL,
    changed_by  text NOT NULL,
    changed_at  timestamptz NOT NULL,
    before      jsonb,
    after       jsonb
);
CREATE INDEX reference_changes_entity ON reference_changes (entity_key, change_id);

-- The policies loaded so far become their version 1, in force since ever under the number
-- running clocks already carry (stages.policy_id); the next load versions what changed.
INSERT INTO sla_policy_versions (policy_key, version, policy_number, effective_from, active,
                                 supplier, policy, changed_by, changed_at)
SELECT DISTINCT ON (policy_key)
       policy_key, 1, policy_id, timestamptz '1970-01-01 00:00:00+00', true, supplier, policy,
       'company-file', now()
FROM (SELECT COALESCE(policy->>'id',
                      supplier || COALESCE(':from-' || requester, '') || COALESCE(':' || priority, ''))
             AS policy_key,
             policy_id, supplier, policy
      FROM sla_policies) AS loaded
ORDER BY policy_key, policy_id;

DROP TABLE sla_policies;
