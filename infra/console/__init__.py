"""`streamgate console`: a small live web page of one stack, served on loopback (Starlette).

`snapshot` reads what the page shows through the stack's target (regions and their health, weights, each
region's rollout, the last failover, firing alerts, the audit trail); `app` serves the page and streams
snapshots (server-sent events); `actions` lets a stepped-up operator pause, resume, promote or abort a
rollout, only when the console was started with --allow-actions.
"""
