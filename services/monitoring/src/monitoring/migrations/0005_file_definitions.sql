-- What the last company file said of each policy and calendar (no row: not in it). A load at
-- start changes only what the file changed since the load before, and deactivates what that
-- file had and this one has not: an administrator's change stands across restarts until the
-- file itself changes that entity, and an entity only an administrator defined stays.
CREATE TABLE sla_policy_file_definitions (
    policy_key text PRIMARY KEY,
    policy     jsonb NOT NULL                  -- the SlaPolicy contract model, as stored
);
CREATE TABLE calendar_file_definitions (
    code     text PRIMARY KEY,
    calendar jsonb NOT NULL                    -- the NamedCalendar contract model
);

-- Until now every load re-applied the whole file: what the file said of an entity is its
-- latest version a load made, unless that version removed it.
INSERT INTO sla_policy_file_definitions (policy_key, policy)
SELECT policy_key, policy
FROM (SELECT DISTINCT ON (policy_key) policy_key, policy, active
      FROM sla_policy_versions WHERE changed_by = 'company-file'
      ORDER BY policy_key, version DESC) AS loaded
WHERE active;
INSERT INTO calendar_file_definitions (code, calendar)
SELECT code, calendar
FROM (SELECT DISTINCT ON (code) code, calendar, active
      FROM calendar_versions WHERE changed_by = 'company-file'
      ORDER BY code, version DESC) AS loaded
WHERE active;
