"""The deployed side of a diff: the JSON of `pulumi stack export` (deployment version 3), without the CLI.

What is deployed is compared with what the code declares: resources the next `pulumi up` would create,
delete, update or replace, and operations an interrupted update left pending. Changes made in the cloud
outside Pulumi show only once `pulumi refresh` has written them into the state.

Offline, values AWS computes (ids, ARNs, endpoints) are mock values in the code's plan. Ids and ARNs of
resources on both sides are mapped to the deployed ones; any other value that still holds a mock-invented
name is unknown offline and not compared, as `pulumi preview` shows such values as `output<string>`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.plan import ACCOUNT, Plan, PlanResource, mock_tokens
from infra.preview.diff import STACK_TYPE
from infra.preview.errors import PreviewInputError

DEPLOYMENT_VERSION = 3
# Pulumi's property-value encoding (sdk/go/common/apitype/property-values.json).
SIG = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
INTEGER_SIG = "7eb310220ed6211bd6f147f2a75bfbb6"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
KNOWN_AFTER_APPLY = "(known after apply)"


@dataclass
class Deployed:
    plan: Plan
    notes: list[str] = field(default_factory=list)


def read_export(path: Path, stack: str, project: str = "streamgate") -> Deployed:
    """The resources `pulumi stack export` recorded for `stack`, as a Plan the policy pack can judge."""
    try:
        exported = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PreviewInputError(f"{path}: cannot read a stack export: {exc}") from None
    if not isinstance(exported, dict) or not isinstance(exported.get("deployment"), dict):
        raise PreviewInputError(
            f"{path}: not the JSON of `pulumi stack export` (no deployment object): "
            f"write it with `pulumi stack export -s {stack} --file {path.name}`"
        )
    if exported.get("version") != DEPLOYMENT_VERSION:
        raise PreviewInputError(
            f"{path}: deployment version {exported.get('version')!r}; this streamgate reads version "
            f"{DEPLOYMENT_VERSION} (export it with a current Pulumi CLI)"
        )
    deployment = exported["deployment"]
    raw = deployment.get("resources") or []
    for r in raw:
        where = r.get("urn", "") if isinstance(r, dict) else ""
        owner = where.split("::")[:2]
        if owner and owner[0].startswith("urn:pulumi:") and owner != [f"urn:pulumi:{stack}", project]:
            raise PreviewInputError(
                f"{path}: an export of {owner[0].removeprefix('urn:pulumi:')}/{owner[-1]}, "
                f"not of {stack}/{project}: export stack {stack}"
            )
    notes = []
    resources = []
    for r in raw:
        if not isinstance(r, dict) or r.get("type") == STACK_TYPE:
            continue
        if r.get("delete"):
            notes.append(f"{r['urn']}: an old copy awaits deletion (a replacement was interrupted)")
            continue
        resources.append(_resource(r))
    for op in deployment.get("pending_operations") or []:
        res = op.get("resource", {})
        notes.append(
            f"{res.get('urn', '?')}: operation `{op.get('type')}` was interrupted; its outcome is "
            "unknown to the state: run `pulumi refresh` before `pulumi up`"
        )
    return Deployed(Plan(stack=stack, resources=sorted(resources, key=lambda r: r.urn)), notes)


def _resource(r: dict[str, Any]) -> PlanResource:
    inputs = {k: _value(v) for k, v in (r.get("inputs") or {}).items() if not k.startswith("__")}
    provider = r.get("provider")
    outputs = r.get("outputs") or {}
    arn = outputs.get("arn")
    return PlanResource(
        type=r["type"],
        name=r["urn"].rpartition("::")[2],
        urn=r["urn"],
        custom=bool(r.get("custom")),
        parent=r.get("parent") or None,
        provider=provider.rsplit("::", 1)[0] if provider else None,
        region=None,
        inputs=inputs,
        id=r.get("id") or None,
        arn=arn if isinstance(arn, str) else None,
    )


def _value(value: Any) -> Any:
    """A state property value as the plan shows one (secrets never read, not even with --show-secrets)."""
    if value == UNKNOWN:
        return None
    if isinstance(value, list):
        return [_value(v) for v in value]
    if not isinstance(value, dict):
        return value
    sig = value.get(SIG)
    if sig == SECRET_SIG:
        return "[secret]"
    if sig == RESOURCE_SIG:
        return value.get("id") or value.get("urn")
    if sig == INTEGER_SIG:
        return int(value["value"])
    if sig is not None:  # an asset or archive
        return f"[asset {value.get('hash', '?')}]"
    return {k: _value(v) for k, v in value.items()}


def align(head: dict[str, Any], deployed: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """`head` (the code's document) with mock ids and ARNs replaced by the deployed ones, and values that
    still hold a mock-invented name taken from the deployed side (unknown offline). Returns it and how
    many values were unknown."""
    live = {r["urn"]: r for r in deployed["resources"]}
    mapping: dict[str, str] = {}
    tokens: set[str] = {ACCOUNT}
    for r in head["resources"]:
        tokens |= mock_tokens(r["type"], r["name"])
        other = live.get(r["urn"])
        if other is None:
            continue
        for key in ("id", "arn"):
            if r.get(key) and other.get(key):
                mapping[r[key]] = other[key]
    translate = _replacer(mapping)
    unknown = re.compile("|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True)))
    count = 0

    def merge(mine: Any, theirs: Any) -> Any:
        nonlocal count
        if isinstance(mine, str):
            mine = translate(mine)
            if unknown.search(mine):
                count += 1
                return theirs if theirs is not None else KNOWN_AFTER_APPLY
            return mine
        if isinstance(mine, dict):
            other = theirs if isinstance(theirs, dict) else {}
            return {k: merge(v, other.get(k)) for k, v in mine.items()}
        if isinstance(mine, list):
            other_list = theirs if isinstance(theirs, list) else []
            return [merge(v, other_list[i] if i < len(other_list) else None) for i, v in enumerate(mine)]
        return mine

    resources = []
    for r in head["resources"]:
        theirs = live.get(r["urn"], {}).get("inputs")
        resources.append({**r, "inputs": merge(r.get("inputs") or {}, theirs)})
    return {**head, "resources": resources}, count


def _replacer(mapping: dict[str, str]) -> Callable[[str], str]:
    if not mapping:
        return lambda s: s
    pattern = re.compile("|".join(re.escape(k) for k in sorted(mapping, key=len, reverse=True)))
    return lambda s: pattern.sub(lambda m: mapping[m.group()], s)
