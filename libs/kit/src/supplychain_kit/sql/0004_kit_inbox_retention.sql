-- Inbox retention: rows older than INBOX_RETENTION_HOURS are deleted in small batches,
-- oldest first, through this index (see supplychain_kit.inbox.purge).
CREATE INDEX inbox_received_at ON inbox (received_at);
