"""Monitoring: handoff timelines and SLA verdicts of the production chain.

`main` wires it (the composition root), `config` its settings, `api` the public reads,
`domain` the stages and handoffs of the contract table; the capabilities are packages:
`timeline`, `sla`, `reference`, `analytics`, `ocel`, `console`, `replay`.
"""
