"""Reading a stack file: YAML as Pulumi writes it, but a key given twice is an error, not last-wins.

PyYAML's `safe_load` keeps the last of two equal keys without a word, so a stack that sets `minNodes` twice
silently deploys the second value. Here the document is composed first (nodes keep their line numbers),
every mapping is checked for repeated keys, and only then is it constructed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from infra.errors import ConfigError


def load_yaml(path: Path) -> Any:
    """The document in `path`; ConfigError naming the file, line and key path on bad YAML or a repeated key."""
    text = path.read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is None:
            return None
        problems = [
            f"{path}:{line}: {key}: given twice (first on line {first}); keep one"
            for key, first, line in duplicate_keys(node)
        ]
        if problems:
            raise ConfigError("\n".join(problems))
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def duplicate_keys(node: yaml.Node, path: str = "") -> Iterator[tuple[str, int, int]]:
    """(key path, line of the first occurrence, line of the repeat) for every key repeated in a mapping."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = _join(path, key)
            line = key_node.start_mark.line + 1
            if key != "<<" and key in seen:
                yield child, seen[key], line
            seen.setdefault(key, line)
            yield from duplicate_keys(value_node, child)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            yield from duplicate_keys(item, f"{path}[{i}]")


def _join(path: str, key: str) -> str:
    # Keys under `config:` are named as Pulumi names them (`streamgate:regions[0].cluster`).
    return key if path in ("", "config") else f"{path}.{key}"
