-- Help requests become a small state machine (issue 15, paused clocks): the supplier may put
-- an open or answered request back to the requester with a question (awaiting_requester),
-- the requester answers it (answered). `last_event_id` is the request's latest event, which
-- the next one is caused by. Requests stored before this migration are open.
ALTER TABLE help_requests ADD COLUMN status text NOT NULL DEFAULT 'open';
ALTER TABLE help_requests ADD COLUMN last_event_id uuid;
UPDATE help_requests SET last_event_id = event_id;
ALTER TABLE help_requests ALTER COLUMN last_event_id SET NOT NULL;
ALTER TABLE help_requests ADD COLUMN status_changed_at timestamptz NOT NULL DEFAULT now();

-- Each question and answer after the request itself, in the order they were given.
CREATE TABLE help_request_steps (
    position      bigint GENERATED ALWAYS AS IDENTITY,
    event_id      uuid PRIMARY KEY,
    help_event_id uuid NOT NULL REFERENCES help_requests (event_id),
    event_type    text NOT NULL,
    department    text NOT NULL,
    text          text NOT NULL,
    status        text NOT NULL,
    given_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX help_request_steps_request ON help_request_steps (help_event_id, position);
