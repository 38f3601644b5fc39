"""The alerts firing now, from an Alertmanager's API v2 (`GET /api/v2/alerts`): what the console shows.

Only active alerts that are neither silenced nor inhibited: what on-call is being told about."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import requests

from infra import http
from infra.automation.errors import AutomationError

QUERY = "/api/v2/alerts?active=true&silenced=false&inhibited=false"


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    summary: str
    region: str | None
    starts_at: str
    fingerprint: str

    @classmethod
    def from_api(cls, doc: dict[str, Any]) -> Alert:
        labels, annotations = doc.get("labels", {}), doc.get("annotations", {})
        return cls(
            name=str(labels.get("alertname", "?")),
            severity=str(labels.get("severity", "")),
            summary=str(annotations.get("summary") or annotations.get("description") or ""),
            region=labels.get("region"),
            starts_at=str(doc.get("startsAt", "")),
            fingerprint=str(doc.get("fingerprint", "")),
        )


class AlertmanagerAlerts:
    def __init__(self, url: str, session: requests.Session | None = None, timeout: float = 5.0) -> None:
        self.url, self.session, self.timeout = url.rstrip("/"), session, timeout

    async def firing(self) -> list[Alert]:
        answer = await asyncio.to_thread(http.get, self.url + QUERY, self.timeout, via=self.session)
        if not answer.ok:
            raise AutomationError(f"Alertmanager {self.url}: {answer.describe()}")
        try:
            documents = answer.json()
        except ValueError as exc:
            raise AutomationError(f"Alertmanager {self.url}: not JSON ({exc})") from exc
        alerts = [Alert.from_api(d) for d in documents if d.get("status", {}).get("state") == "active"]
        return sorted(alerts, key=lambda a: (a.severity != "page", a.name, a.region or ""))
