-- How far monitoring knows each partition of the topics that end its stages (issue 22, item 2):
-- every record the broker held on it at `known_until` has been applied (the consumer group's
-- committed offset had reached the partition's end offset sampled then). A clock's warning or
-- breach is raised only once its time (plus the relays' grace) is known on every partition of
-- the topics that could end its stage, or its maximum lateness has passed.
-- '-infinity': the partition exists but nothing is known of it yet. Every replica samples and
-- writes; a watermark only moves forward (GREATEST).
CREATE TABLE verdict_watermarks (
    topic       text NOT NULL,
    partition   integer NOT NULL,
    known_until timestamptz NOT NULL,
    sampled_at  timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);
