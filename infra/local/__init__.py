"""The local platform: the whole StreamGate system on one machine from real parts.

`streamgate local up` renders configs from the stack model (jinja2, `templates/`) into `.streamgate/<stack>/`
and runs every process under supervisord. Modules: `layout` (ports and paths), `preflight` (binaries and
ports), `render` (configs), `supervisor` (process control over XML-RPC), `nginx` (the router adapter that
rollout and failover automation drive), `aws` (moto's S3/KMS bootstrap), `gateway` (gateway environment,
admin tokens, seeding), `health` (probes), `platform` (the orchestration) and `cli` (the typer sub-app).
"""
