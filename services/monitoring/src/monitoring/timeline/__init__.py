"""Handoff timelines: every consumed event recorded on its order, the orders and their stages
started and ended by the events (handlers, one transaction each), the scheduler job that fires
the clocks of running stages (clocks), where raised alarms, closed stages and recorded events
go (sinks), and monitoring's copy of the disputes. Its SQL is in `store` and `dispute_store`."""
