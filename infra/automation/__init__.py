"""Automation that operates a stack: progressive delivery (canary and blue-green rollouts gated on Prometheus)
and, beside it, failover and backups. Pure decision functions; thin adapters behind Protocols
(`adapters/`: routers, metrics, deployers); state persisted in `state.py` stores with one lock per target.

Rollout modules: `model` (persisted values), `analysis` (PromQL checks), `judge` (Mann-Whitney),
`decide` (pure rules), `controller` (the loop), `gates` (webhooks), `pushmetrics`, `report`, `wiring`
(adapters from the stack's target) and `rollout_cli` (`streamgate rollout`).
"""
