"""CRD schemas for validating custom resources: `../shared/schemas/` when present, else the copies here."""

from __future__ import annotations

from pathlib import Path

from infra.config import PROJECT_ROOT

_SHARED = PROJECT_ROOT.parent / "shared" / "schemas"
_HERE = Path(__file__).resolve().parent


def crd_file(name: str) -> Path:
    """The CRD file `name` (e.g. prometheusrules.monitoring.coreos.com.yaml)."""
    shared = _SHARED / name
    return shared if shared.is_file() else _HERE / name
