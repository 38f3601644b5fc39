"""Run the pack's policies over an offline plan (`infra.plan.Plan`), as the engine runs them over a preview.

The same policy objects are called the way the SDK's analyzer calls them: `ResourceValidationArgs` per
resource (its inputs), one `StackValidationArgs` over every resource (inputs plus id and ARN, as outputs),
each wrapped in the SDK's unknown-checking proxies and handed its policy config. Configuration is the file
`pulumi preview --policy-pack-config` takes: `policies/config/<stack>.json`, e.g.
`{"all": "advisory", "kms-key-rotation": "disabled", "backup-bucket-retention": {"minRetentionDays": 30}}`.

What the plan does not carry: property dependencies (policies then resolve references by id/ARN values, as
they do at `pulumi up`) and stack tags (empty).
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from inspect import isawaitable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from policies.pack import DEFAULT_LEVEL, POLICIES

if TYPE_CHECKING:
    from infra.plan import Plan, PlanResource

CONFIG_DIR = Path(__file__).resolve().parent / "config"
ALL = "all"
LEVEL_KEY = "enforcementLevel"
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "integer": (int,),
    "number": (int, float),
    "string": (str,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


class PolicyError(Exception):
    """Base of the policies package's errors."""


class PolicyConfigError(PolicyError):
    """A policy config file is wrong: the message names the file, the key and what is valid."""


@dataclass(frozen=True)
class PolicySettings:
    level: EnforcementLevel | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PackConfig:
    """The pack's config as `--policy-pack-config` gives it: an "all" level, and per policy a level and/or
    the properties of its config schema."""

    policies: Mapping[str, PolicySettings] = field(default_factory=dict)
    all_level: EnforcementLevel | None = None
    source: str = "<defaults>"

    def level_of(self, policy: Policy) -> EnforcementLevel:
        own = self.policies.get(policy.name)
        if own is not None and own.level is not None:
            return own.level
        if self.all_level is not None:
            return self.all_level
        return policy.enforcement_level or DEFAULT_LEVEL

    def properties_of(self, policy: Policy) -> dict[str, Any]:
        own = self.policies.get(policy.name)
        return dict(own.properties) if own is not None else {}

    @classmethod
    def parse(cls, document: Any, source: str, policies: Sequence[Policy] = POLICIES) -> PackConfig:
        """Validate as strictly as the CLI (levels, schema types) and stricter (unknown policies and
        properties are errors here, where a typo would otherwise silently change nothing)."""
        if not isinstance(document, dict):
            raise PolicyConfigError(f"{source}: expected a JSON object mapping policy names to settings")
        by_name = {p.name: p for p in policies}
        all_level, settings = None, {}
        for key, value in document.items():
            if key == ALL:
                all_level = _level(
                    value if isinstance(value, str) else _get_level(value, source, key), source, key
                )
                continue
            if key not in by_name:
                raise PolicyConfigError(
                    f"{source}: {key}: no such policy (known: {', '.join(sorted(by_name))})"
                )
            if isinstance(value, str):
                settings[key] = PolicySettings(level=_level(value, source, key))
                continue
            if not isinstance(value, dict):
                raise PolicyConfigError(f"{source}: {key}: expected a level string or an object")
            level = value.get(LEVEL_KEY)
            properties = {k: v for k, v in value.items() if k != LEVEL_KEY}
            _check_properties(by_name[key], properties, source)
            settings[key] = PolicySettings(
                level=_level(level, source, key) if level is not None else None, properties=properties
            )
        return cls(policies=settings, all_level=all_level, source=source)

    @classmethod
    def load(cls, path: Path) -> PackConfig:
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise PolicyConfigError(f"{path}: cannot read policy config: {exc}") from exc
        return cls.parse(document, str(path))

    @classmethod
    def for_stack(cls, stack: str) -> PackConfig:
        """`policies/config/<stack>.json` if the stack has one; the policies' own defaults otherwise."""
        path = CONFIG_DIR / f"{stack}.json"
        return cls.load(path) if path.is_file() else cls()


def _get_level(value: Any, source: str, key: str) -> Any:
    if not isinstance(value, dict) or set(value) != {LEVEL_KEY}:
        raise PolicyConfigError(f"{source}: {key}: expected a level string or {{{LEVEL_KEY!r}: level}}")
    return value[LEVEL_KEY]


def _level(value: Any, source: str, key: str) -> EnforcementLevel:
    try:
        return EnforcementLevel(value)
    except ValueError:
        valid = ", ".join(level.value for level in EnforcementLevel)
        raise PolicyConfigError(f"{source}: {key}: {value!r} is not an enforcement level ({valid})") from None


def _check_properties(policy: Policy, properties: Mapping[str, Any], source: str) -> None:
    schema = policy.config_schema.properties if policy.config_schema is not None else {}
    for name, value in properties.items():
        where = f"{source}: {policy.name}.{name}"
        if name not in schema:
            known = ", ".join(sorted(schema)) or "none"
            raise PolicyConfigError(f"{where}: not a property of this policy (properties: {known})")
        _check_value(schema[name], value, where)


def _check_value(spec: Mapping[str, Any], value: Any, where: str) -> None:
    kind = spec.get("type")
    if kind in _JSON_TYPES and (
        not isinstance(value, _JSON_TYPES[kind])
        or (kind in ("integer", "number") and isinstance(value, bool))
    ):
        raise PolicyConfigError(f"{where}: expected {kind}, got {value!r}")
    if "enum" in spec and value not in spec["enum"]:
        raise PolicyConfigError(f"{where}: {value!r} is not one of {spec['enum']}")
    if "minimum" in spec and value < spec["minimum"]:
        raise PolicyConfigError(f"{where}: must be ≥ {spec['minimum']}, got {value}")
    if "maximum" in spec and value > spec["maximum"]:
        raise PolicyConfigError(f"{where}: must be ≤ {spec['maximum']}, got {value}")
    if kind == "array" and "items" in spec:
        for i, item in enumerate(value):
            _check_value(spec["items"], item, f"{where}[{i}]")


@dataclass(frozen=True)
class Violation:
    policy: str
    level: str  # "mandatory" or "advisory"
    message: str
    description: str
    urn: str | None  # None: the stack as a whole

    @property
    def resource(self) -> str:
        """`type::name` of the violating resource (the URN's tail), or `stack`."""
        if not self.urn:
            return "stack"
        qualified, _, name = self.urn.rpartition("::")
        return f"{qualified.rsplit('$', 1)[-1]}::{name}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "resource": self.resource}


@dataclass(frozen=True)
class PolicyReport:
    stack: str
    violations: list[Violation]
    policies: list[str]  # the policies that ran (not disabled)
    config: str

    @property
    def mandatory(self) -> list[Violation]:
        return [v for v in self.violations if v.level == EnforcementLevel.MANDATORY.value]

    @property
    def passed(self) -> bool:
        return not self.mandatory

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "passed": self.passed,
            "config": self.config,
            "policies": self.policies,
            "violations": [v.to_json() for v in self.violations],
        }


def _options(r: PlanResource) -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], r.parent)


def _props(values: Mapping[str, Any]) -> Any:
    return unknown_checking_proxy(copy.deepcopy(dict(values)))


def _outputs(r: PlanResource) -> dict[str, Any]:
    """What the engine shows stack policies: a resource's outputs. Under mocks those echo the inputs, plus
    the id and ARN the plan recorded."""
    extra = {k: v for k, v in (("id", r.id), ("arn", r.arn)) if v is not None}
    return {**r.inputs, **extra}


def _run(result: Any) -> None:
    if isawaitable(result):
        asyncio.run(result)  # type: ignore[arg-type]


def run_policies(
    plan: Plan, config: PackConfig | None = None, policies: Sequence[Policy] = POLICIES
) -> PolicyReport:
    """Every enabled policy over `plan`; `config` defaults to the stack's config file."""
    config = config if config is not None else PackConfig.for_stack(plan.stack)
    by_urn = {r.urn: r for r in plan.resources}
    providers = {
        r.urn: PolicyProviderResource(r.type, _props(r.inputs), r.urn, r.name)
        for r in plan.resources
        if r.type.startswith("pulumi:providers:")
    }
    stack_resources = {
        r.urn: PolicyResource(
            r.type,
            _props(_outputs(r)),
            r.urn,
            r.name,
            _options(r),
            providers.get(r.provider or ""),
            None,
            [],
            {},
        )
        for r in plan.resources
    }
    for r in plan.resources:
        if r.parent in stack_resources:
            stack_resources[r.urn].parent = stack_resources[r.parent]

    violations: list[Violation] = []
    ran: list[str] = []
    for policy in policies:
        level = config.level_of(policy)
        if level is EnforcementLevel.DISABLED:
            continue
        if level is EnforcementLevel.REMEDIATE:  # the engine reports a remaining violation as mandatory
            level = EnforcementLevel.MANDATORY
        ran.append(policy.name)
        properties = config.properties_of(policy)

        def report(
            message: str, urn: str | None = None, *, _p: Policy = policy, _l: str = level.value
        ) -> None:
            violations.append(Violation(_p.name, _l, message, _p.description, urn))

        if isinstance(policy, ResourceValidationPolicy):
            for r in by_urn.values():
                args = ResourceValidationArgs(
                    r.type, _props(r.inputs), r.urn, r.name, _options(r), providers.get(r.provider or ""),
                    copy.deepcopy(properties), {},
                )  # fmt: skip

                def on_resource(message: str, urn: str | None = None, *, _urn: str = r.urn) -> None:
                    report(message, _urn)  # resource policies always report against the resource itself

                _run(policy.validate(args, on_resource))
        elif isinstance(policy, StackValidationPolicy):
            args_stack = StackValidationArgs(list(stack_resources.values()), copy.deepcopy(properties), {})
            _run(policy.validate(args_stack, report))
    return PolicyReport(stack=plan.stack, violations=violations, policies=ran, config=config.source)
