"""The gateway's operations paths: the routes serve them, and the Kubernetes probes, the Route 53 health
checks, the Prometheus scrape config and the policy pack name them from here."""

HEALTH = "/healthz"  # liveness: the process answers
READY = "/readyz"  # readiness: this pod can serve
METRICS = "/metrics"
VERSION = "/version"
OPENAPI = "/openapi.json"
