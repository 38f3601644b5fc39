"""Automation that operates a stack: progressive delivery (`rollout/`), regional failover (`failover/`),
encrypted backups (`backup/`) and failover drills (`drill/`), each with its model, logic, CLI and errors.
Adapters behind Protocols (`adapters/`: routers, metrics, deployers, data stores, state stores) are chosen
once per command by the stack's target (`targets/`). README.md beside this file says where new parts go.
"""
