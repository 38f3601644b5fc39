"""Notifications of operations (rollouts, failovers) to chat and webhooks, per stack.

`model` is what is said, `channels` how each kind of receiver wants it (Slack-compatible, generic JSON),
`dispatch` delivers in the background (in order per channel, retried with backoff, never blocking the
operation) and `wiring` builds it from the stack's `notifications:` section and its target's secrets.
"""
