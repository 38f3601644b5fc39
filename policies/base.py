"""What every policy module shares: safe property access, the stack's environment, and the two builders.

Values reach a policy in two shapes: from the engine (mappings and sequences wrapped in the SDK's
unknown-checking proxies, numbers as floats, provider config as JSON strings, unknown values during preview)
and from the offline runner (the same proxies over the plan's inputs). Policies read them only through
`get`/`items`/`is_set`/`flag`/`number`, so both shapes behave alike and an unknown value never crashes a check.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyProviderResource,
    PolicyResource,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

ENV_TAG = "streamgate/environment"
PURPOSE_TAG = "streamgate/purpose"
REGION_TAG = "streamgate/region"
PROD = "prod"
ENVIRONMENTS = ("dev", "staging", "prod", "local")
AWS_PROVIDER = "pulumi:providers:aws"

MANDATORY = EnforcementLevel.MANDATORY


class _Unknown:
    """A value the engine only learns during the update (an id or ARN of a resource not yet created)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """`obj[p0][p1]...`; `default` when a step is missing or null, `UNKNOWN` when a step is unknown."""
    current = obj
    for key in path:
        try:
            if isinstance(key, int):
                if not is_list(current) or not -len(current) <= key < len(current):
                    return default
            elif not isinstance(current, Mapping):
                return default
            current = current[key]
        except (KeyError, IndexError):
            return default
        except UnknownValueError:
            return UNKNOWN
        if current is None:
            return default
    return current


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def items(value: Any) -> list[Any]:
    """The elements of a list value (an unknown element becomes `UNKNOWN`); [] for anything else."""
    if not is_list(value):
        return []
    return [get(value, i) for i in range(len(value))]


def is_set(obj: Any, *path: str | int) -> bool:
    """Whether a property is given: unknown counts as given (it is computed from another resource)."""
    value = get(obj, *path)
    if value is UNKNOWN:
        return True
    if isinstance(value, str | Mapping) or is_list(value):
        return len(value) > 0
    return value is not None


def flag(value: Any, *, unknown: bool = True) -> bool:
    """A boolean input (providers also pass "true"/"false" strings); `unknown` decides an unknown one."""
    if value is UNKNOWN:
        return unknown
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return value is True


def number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None or value is UNKNOWN:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def setting(config: Mapping[str, Any], key: str, default: float) -> float:
    """A numeric policy-config property (the engine passes JSON numbers as floats)."""
    value = number(get(config, key))
    return default if value is None else value


def tags_of(props: Any) -> dict[str, str]:
    """A resource's own tags (`tags`, or `tagsAll` once the provider merged its default tags)."""
    found: dict[str, str] = {}
    for key in ("tagsAll", "tags"):
        tags = get(props, key)
        if isinstance(tags, Mapping):
            found.update({str(k): str(v) for k, v in tags.items() if isinstance(v, str)})
    return found


def default_tags(provider_props: Any) -> dict[str, str]:
    """An AWS provider's `defaultTags.tags`. Provider inputs reach the engine JSON-encoded, so decode them."""
    value = get(provider_props, "defaultTags")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    tags = get(value, "tags")
    if not isinstance(tags, Mapping):
        return {}
    return {str(k): str(v) for k, v in tags.items() if isinstance(v, str)}


def provider_props(provider: PolicyProviderResource | None) -> Any:
    return provider.props if provider is not None else {}


def region_of(props: Any, provider: PolicyProviderResource | None) -> str | None:
    """The region a resource lives in: its own `region` input (pulumi-aws v7), else its provider's."""
    own = get(props, "region")
    if isinstance(own, str) and own:
        return own
    return string(get(provider_props(provider), "region"))


def environment_of(args: ResourceValidationArgs) -> str | None:
    """The environment a resource belongs to: the policy's config, a stack tag, the provider's default tags,
    then the resource's own tags. None when nothing says (the `environment-declared` policy reports it)."""
    configured = string(get(args.get_config(), "environment"))
    if configured:
        return configured
    for tags in (dict(args.stack_tags), default_tags(provider_props(args.provider)), tags_of(args.props)):
        if tags.get(ENV_TAG):
            return tags[ENV_TAG]
    return None


def aws_providers(resources: Iterable[PolicyResource]) -> dict[str, Any]:
    """Every AWS provider in the stack (as a resource, or as the provider of a resource): urn -> props."""
    found: dict[str, Any] = {}
    for r in resources:
        if r.resource_type == AWS_PROVIDER:
            found[r.urn] = r.props
        if r.provider is not None and r.provider.resource_type == AWS_PROVIDER:
            found.setdefault(r.provider.urn, r.provider.props)
    return found


def stack_environments(args: StackValidationArgs) -> set[str]:
    """The environments a stack declares (config, stack tag, AWS providers' default tags); normally one."""
    configured = string(get(args.get_config(), "environment"))
    if configured:
        return {configured}
    if args.stack_tags.get(ENV_TAG):
        return {args.stack_tags[ENV_TAG]}
    return {
        env for props in aws_providers(args.resources).values() if (env := default_tags(props).get(ENV_TAG))
    }


class Report(Protocol):
    def __call__(self, message: str, urn: str | None = None) -> None: ...


ResourceCheck = Callable[[ResourceValidationArgs, Report], None]
StackCheck = Callable[[StackValidationArgs, Report], None]

ENVIRONMENT_PROPERTY: dict[str, dict[str, Any]] = {
    "environment": {
        "type": "string",
        "enum": list(ENVIRONMENTS),
        "description": "The stack's environment, when its resources do not carry the streamgate/environment tag.",
    }
}


def _schema(properties: Mapping[str, dict[str, Any]] | None, prod_only: bool) -> PolicyConfigSchema | None:
    merged = {**(ENVIRONMENT_PROPERTY if prod_only else {}), **(properties or {})}
    return PolicyConfigSchema(properties=merged) if merged else None


def _adapt(report: ReportViolation) -> Report:
    def adapted(message: str, urn: str | None = None) -> None:
        report(message, urn)

    return adapted


def resource_policy(
    name: str,
    description: str,
    types: Collection[str],
    *,
    level: EnforcementLevel = MANDATORY,
    config: Mapping[str, dict[str, Any]] | None = None,
    prod_only: bool = False,
) -> Callable[[ResourceCheck], ResourceValidationPolicy]:
    """Make `check` a ResourceValidationPolicy that runs on resources of `types` (in prod only if asked)."""
    wanted = frozenset(types)

    def build(check: ResourceCheck) -> ResourceValidationPolicy:
        def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
            if args.resource_type not in wanted:
                return
            if prod_only and environment_of(args) != PROD:
                return
            check(args, _adapt(report))

        return ResourceValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            config_schema=_schema(config, prod_only),
        )

    return build


def stack_policy(
    name: str,
    description: str,
    *,
    level: EnforcementLevel = MANDATORY,
    config: Mapping[str, dict[str, Any]] | None = None,
    prod_only: bool = False,
) -> Callable[[StackCheck], StackValidationPolicy]:
    """Make `check` a StackValidationPolicy (in prod stacks only if asked)."""

    def build(check: StackCheck) -> StackValidationPolicy:
        def validate(args: StackValidationArgs, report: ReportViolation) -> None:
            if prod_only and PROD not in stack_environments(args):
                return
            check(args, _adapt(report))

        return StackValidationPolicy(
            name=name,
            description=description,
            validate=validate,
            enforcement_level=level,
            config_schema=_schema(config, prod_only),
        )

    return build


class StackIndex:
    """A stack's resources by type, and the resources a property refers to."""

    def __init__(self, resources: Sequence[PolicyResource]) -> None:
        self.resources = list(resources)
        self.by_type: dict[str, list[PolicyResource]] = {}
        for r in self.resources:
            self.by_type.setdefault(r.resource_type, []).append(r)

    def of_type(self, *types: str) -> list[PolicyResource]:
        return [r for t in types for r in self.by_type.get(t, [])]

    def referenced(
        self,
        source: PolicyResource,
        prop: str,
        values: Iterable[Any],
        types: Collection[str],
        keys: Sequence[str] = ("id", "arn"),
    ) -> list[PolicyResource]:
        """Resources of `types` that `values` (taken from `source`'s property `prop`) name by id or ARN.
        While values are unknown (preview of new resources) the engine's property dependencies say instead."""
        wanted = [v for v in values if isinstance(v, str) and v]
        candidates = self.of_type(*types)
        found = [r for r in candidates if any(get(r.props, k) in wanted for k in keys)] if wanted else []
        if not found:
            deps = source.property_dependencies.get(prop, []) if source.property_dependencies else []
            found = [d for d in deps if d.resource_type in types]
        return found

    def referenced_by(self, source_type: str, prop: str, types: Collection[str]) -> set[str]:
        """URNs of the resources of `types` that some resource of `source_type` names in `prop`."""
        return {
            target.urn
            for source in self.of_type(source_type)
            for target in self.referenced(source, prop, [get(source.props, prop)], types)
        }


def region(r: PolicyResource) -> str | None:
    return region_of(r.props, r.provider)


def label(r: PolicyResource) -> str:
    return f"{r.resource_type.rsplit(':', 1)[-1]} {r.name}"
