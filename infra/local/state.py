"""What a local platform remembers between commands: its layout, secrets and what is deployed per gateway.

`platform.json` lets `status`, `logs`, `smoke` and `down` find a platform that `up` started with another
base port, and keeps the version (and drill settings) each gateway color runs, so re-running `up` never
undoes a rollout. `secrets/local.json` (mode 0600) holds the generated token signing key, the MFA pepper
(and, beside it, the local admin's TOTP secret once enrolled): generated once per state directory, never printed.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from infra.atomic import write_atomic
from infra.local.layout import Paths


@dataclass
class Deployment:
    """What one gateway runs: its version label and extra STREAMGATE_* settings (e.g. fault injection)."""

    version: str
    settings: dict[str, str] = field(default_factory=dict)


@dataclass
class PlatformState:
    stack: str
    base_port: int
    deployments: dict[str, Deployment] = field(default_factory=dict)  # gateway program → deployment

    @classmethod
    def load(cls, paths: Paths) -> PlatformState | None:
        try:
            doc = json.loads(paths.state_file.read_text())
        except FileNotFoundError:
            return None
        return cls(
            stack=str(doc["stack"]),
            base_port=int(doc["base_port"]),
            deployments={k: Deployment(**v) for k, v in doc.get("deployments", {}).items()},
        )

    def save(self, paths: Paths, extra: dict[str, Any] | None = None) -> None:
        doc: dict[str, Any] = {
            "stack": self.stack,
            "base_port": self.base_port,
            "deployments": {k: asdict(v) for k, v in sorted(self.deployments.items())},
        }
        write_atomic(paths.state_file, json.dumps(doc | (extra or {}), indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class Secrets:
    signing_key: str  # hex
    mfa_pepper: str

    @classmethod
    def load_or_create(cls, paths: Paths) -> Secrets:
        path = paths.secrets / "local.json"
        if path.exists():
            return cls(**json.loads(path.read_text()))
        created = cls(
            signing_key=secrets.token_hex(32),
            mfa_pepper=secrets.token_hex(16),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        write_atomic(path, json.dumps(asdict(created), indent=2) + "\n")
        os.chmod(path, 0o600)
        return created


def secure(path: Path) -> None:
    """Files holding secrets (supervisord.conf carries the gateways' environment) are private."""
    if path.exists():
        os.chmod(path, 0o600)
