-- A token that changes with every change of the SLA policy or calendar versions: the consumer
-- holds the versions in memory and reads the token with the statement that marks the stage
-- boundaries of a batch; another token than the one it holds (a definition made on any
-- replica, or a replay's copy) makes it read the versions again. A random token, not a
-- counter: two databases (a replay's schema and the live one) never share one.
CREATE TABLE reference_token (
    token uuid NOT NULL DEFAULT gen_random_uuid(),
    one_row boolean PRIMARY KEY DEFAULT true CHECK (one_row)
);
INSERT INTO reference_token DEFAULT VALUES;

CREATE FUNCTION renew_reference_token() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('UPDATE %I.reference_token SET token = gen_random_uuid()', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;

CREATE TRIGGER sla_policy_versions_token AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON sla_policy_versions FOR EACH STATEMENT EXECUTE FUNCTION renew_reference_token();
CREATE TRIGGER calendar_versions_token AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON calendar_versions FOR EACH STATEMENT EXECUTE FUNCTION renew_reference_token();
