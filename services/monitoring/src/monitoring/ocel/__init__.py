"""The OCEL 2.0 export: the recorded handoffs as an object-centric event log (log, pure), read
by server-side cursors (store), streamed as JSON or written as SQLite (export), served over
HTTP (api)."""
