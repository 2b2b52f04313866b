"""The reference data monitoring owns: SLA policies and business calendars, versioned, loaded
from the company file at start (company), defined one transaction each (commands) and by
administrators over HTTP (admin), with their versions (pure), calendar checks and SQL."""
