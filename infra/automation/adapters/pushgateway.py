"""A Pushgateway that batch jobs (rollouts, backups) push their metrics to: the local platform's, or a
cluster's in-cluster one through its API server (`handler` adds the credentials). A push that fails is
reported to the caller, never fatal: the job itself did its work."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, push_to_gateway
from prometheus_client.exposition import default_handler

log = logging.getLogger(__name__)
Handler = Callable[..., Callable[[], None]]


@dataclass(frozen=True)
class Pushgateway:
    url: str
    handler: Handler | None = None

    def push(
        self, job: str, registry: CollectorRegistry, grouping_key: Mapping[str, str], timeout: float
    ) -> bool:
        """Replace the group's metrics; False (logged) when the Pushgateway does not take them."""
        extra: dict[str, Any] = {"handler": self.handler} if self.handler is not None else {}
        try:
            push_to_gateway(
                self.url,
                job=job,
                registry=registry,
                grouping_key=dict(grouping_key),
                timeout=timeout,
                **extra,
            )
        except OSError as exc:
            log.warning("pushgateway %s: %s", self.url, exc)
            return False
        return True


__all__ = ["Pushgateway", "default_handler"]
