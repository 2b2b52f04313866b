"""Handoff analytics: where the time of a handoff goes (time_split, pure, and its live
histograms), bottlenecks of the chain, supplier scorecards of a month, their HTTP API and the
SQL they read."""
