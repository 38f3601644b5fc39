"""The difference between two documents of one stack (`snapshot.document`): resources created, deleted,
updated or replaced, by URN, with the input properties that changed (secrets masked, a rotation shown as a
changed `[secret]`), and the policy violations that appear or are fixed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from infra.preview.paths import flatten
from infra.preview.replace import forces_replacement

SECRET = "[secret]"
STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER = "(provider)"  # the pseudo-property of a resource's provider: another provider replaces it
Action = Literal["create", "delete", "update", "replace"]
ChangeKind = Literal["added", "removed", "changed", "rotated"]
ACTIONS: tuple[Action, ...] = ("create", "update", "replace", "delete")


@dataclass(frozen=True)
class PropertyChange:
    path: str
    kind: ChangeKind
    old: Any  # None when added
    new: Any  # None when removed
    replace: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "old": self.old,
            "new": self.new,
            "replace": self.replace,
        }


@dataclass(frozen=True)
class ResourceChange:
    urn: str
    type: str
    name: str
    parent: str | None
    region: str | None
    action: Action
    properties: tuple[PropertyChange, ...] = ()
    inputs: dict[str, Any] | None = None  # a created resource's inputs (in the JSON only)

    @property
    def component(self) -> str:
        """`type::name` of the component the resource belongs to (its parent), or `stack`."""
        label = urn_label(self.parent) if self.parent else ""
        return "stack" if not label or label.startswith(f"{STACK_TYPE}::") else label

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "urn": self.urn,
            "type": self.type,
            "name": self.name,
            "component": self.component,
            "region": self.region,
            "action": self.action,
            "properties": [p.to_json() for p in self.properties],
        }
        if self.inputs is not None:
            out["inputs"] = self.inputs
        return out


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str
    resource: str
    message: str

    @classmethod
    def of(cls, raw: dict[str, Any]) -> Violation:
        return cls(
            policy=str(raw.get("policy")),
            level=str(raw.get("level")),
            resource=str(raw.get("resource") or "stack"),
            message=str(raw.get("message")),
        )

    def to_json(self) -> dict[str, str]:
        return {
            "policy": self.policy,
            "level": self.level,
            "resource": self.resource,
            "message": self.message,
        }


@dataclass(frozen=True)
class Verdict:
    """One side's policy verdict."""

    passed: bool
    mandatory: int
    advisory: int

    @classmethod
    def of(cls, policy: dict[str, Any]) -> Verdict:
        levels = Counter(str(v.get("level")) for v in policy.get("violations", []))
        return cls(
            passed=bool(policy.get("passed", levels["mandatory"] == 0)),
            mandatory=levels["mandatory"],
            advisory=sum(levels.values()) - levels["mandatory"],
        )

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "mandatory": self.mandatory, "advisory": self.advisory}


@dataclass
class StackDiff:
    stack: str
    base: str  # what the base side is: "main (0123abcd)", "prod.plan.json (...)", "deployed: export.json"
    head: str
    changes: list[ResourceChange]
    base_verdict: Verdict
    head_verdict: Verdict
    violations_added: list[Violation]
    violations_fixed: list[Violation]
    notes: list[str] = field(default_factory=list)

    def count(self, action: Action) -> int:
        return sum(1 for c in self.changes if c.action == action)

    @property
    def empty(self) -> bool:
        return not self.changes and not self.violations_added and not self.violations_fixed

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "base": self.base,
            "head": self.head,
            "counts": {action: self.count(action) for action in ACTIONS},
            "changes": [c.to_json() for c in self.changes],
            "policy": {
                "base": self.base_verdict.to_json(),
                "head": self.head_verdict.to_json(),
                "added": [v.to_json() for v in self.violations_added],
                "fixed": [v.to_json() for v in self.violations_fixed],
            },
            "notes": self.notes,
        }


def urn_label(urn: str) -> str:
    """`type::name` of a URN (`...$aws:s3/bucket:Bucket::logs` → `aws:s3/bucket:Bucket::logs`)."""
    qualified, _, name = urn.rpartition("::")
    return f"{qualified.rsplit('$', 1)[-1]}::{name}"


def diff_documents(
    stack: str, base: dict[str, Any], head: dict[str, Any], base_label: str, head_label: str
) -> StackDiff:
    """What going from `base` to `head` changes. Only custom resources count (components hold no inputs)."""
    old = {r["urn"]: r for r in base.get("resources", []) if r.get("custom")}
    new = {r["urn"]: r for r in head.get("resources", []) if r.get("custom")}
    changes: list[ResourceChange] = []
    for urn in sorted(old.keys() | new.keys()):
        if urn not in old:
            changes.append(_whole(new[urn], "create"))
        elif urn not in new:
            changes.append(_whole(old[urn], "delete"))
        else:
            properties = property_changes(old[urn], new[urn])
            if properties:
                action: Action = "replace" if any(p.replace for p in properties) else "update"
                changes.append(_whole(new[urn], action, properties))
    base_violations = Counter(Violation.of(v) for v in base.get("policy", {}).get("violations", []))
    head_violations = Counter(Violation.of(v) for v in head.get("policy", {}).get("violations", []))
    return StackDiff(
        stack=stack,
        base=base_label,
        head=head_label,
        changes=changes,
        base_verdict=Verdict.of(base.get("policy", {})),
        head_verdict=Verdict.of(head.get("policy", {})),
        violations_added=sorted((head_violations - base_violations).elements(), key=_violation_order),
        violations_fixed=sorted((base_violations - head_violations).elements(), key=_violation_order),
    )


def _violation_order(v: Violation) -> tuple[int, str, str, str]:
    return (v.level != "mandatory", v.policy, v.resource, v.message)


def _whole(r: dict[str, Any], action: Action, properties: tuple[PropertyChange, ...] = ()) -> ResourceChange:
    return ResourceChange(
        urn=r["urn"],
        type=r["type"],
        name=r["name"],
        parent=r.get("parent"),
        region=r.get("region"),
        action=action,
        properties=properties,
        inputs=r.get("inputs") if action == "create" else None,
    )


def property_changes(old: dict[str, Any], new: dict[str, Any]) -> tuple[PropertyChange, ...]:
    """The input properties that differ, leaf by leaf; a secret on both sides differs when its digest does
    (both sides must know it: a plan saved before digests existed shows no rotation)."""
    typ = new["type"]
    before, after = flatten(old.get("inputs") or {}), flatten(new.get("inputs") or {})
    old_secrets, new_secrets = old.get("secrets") or {}, new.get("secrets") or {}
    found: list[PropertyChange] = []
    for path in sorted(before.keys() | after.keys()):
        if path not in after:
            found.append(PropertyChange(path, "removed", before[path], None, forces_replacement(typ, path)))
        elif path not in before:
            found.append(PropertyChange(path, "added", None, after[path], forces_replacement(typ, path)))
        elif before[path] == after[path] == SECRET:
            was, now = old_secrets.get(path), new_secrets.get(path)
            if was and now and was != now:
                found.append(PropertyChange(path, "rotated", SECRET, SECRET, forces_replacement(typ, path)))
        elif not _same(before[path], after[path]):
            found.append(
                PropertyChange(path, "changed", before[path], after[path], forces_replacement(typ, path))
            )
    if old.get("provider") != new.get("provider"):
        found.append(PropertyChange(PROVIDER, "changed", old.get("provider"), new.get("provider"), True))
    return tuple(found)


def _same(a: Any, b: Any) -> bool:
    """Equal as JSON values: the mocks return numbers as floats, a stack export keeps integers; a boolean
    is no number."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)
