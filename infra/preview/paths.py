"""Property paths as previews name them, and nested inputs flattened to them."""

from __future__ import annotations

import json
import re
from typing import Any

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def property_path(path: str, key: str | int) -> str:
    """`path` extended by a key or index: `origins[0].domainName`, `metadata.labels["app.kubernetes.io/name"]`.
    Keys that are not identifiers are quoted, so no two properties share a path."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """Leaf values by path. Empty objects and lists are leaves too, so `{}` → `{"a": 1}` shows as added."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(flatten(item, property_path(path, key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, property_path(path, index)))
        return out
    return {path: value}


def within(path: str, prefix: str) -> bool:
    """Whether `path` is `prefix` or lies inside it (`spec.selector.matchLabels` is within `spec.selector`)."""
    return path == prefix or path.startswith((f"{prefix}.", f"{prefix}["))
