"""SLA repair: `python -m monitoring.replay` rebuilds timelines and SLA results from the topics
into a fresh schema and reports how they differ from the live ones (repair), judging only the
window the topics still hold (window, pure)."""
