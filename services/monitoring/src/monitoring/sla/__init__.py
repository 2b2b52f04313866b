"""SLA rules and clock state: which policy applies and when a stage's clock runs out (rules),
where a paused clock's warning and deadline fall (pauses), which SLA event an alarm is
(alarms), all pure; and the SQL of the clocks (store: pauses, alarms raised, clocks due)."""
