"""IAM: no role gets administrator power, whether by a wildcard statement or AWS's AdministratorAccess
(AWS FSBP IAM.1, CIS AWS Foundations 1.16)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pulumi_policy import ResourceValidationArgs

from policies.base import UNKNOWN, Report, get, is_list, resource_policy

POLICY_DOCUMENTS = (
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/policy:Policy",
    "aws:iam/userPolicy:UserPolicy",
    "aws:iam/groupPolicy:GroupPolicy",
)
ATTACHMENTS = (
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:iam/userPolicyAttachment:UserPolicyAttachment",
    "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
)
ADMIN_POLICIES = ("arn:aws:iam::aws:policy/AdministratorAccess",)


def _as_list(value: Any) -> list[Any]:
    return list(value) if is_list(value) else [value]


def statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of a policy document given as JSON text or as a mapping ([] when unreadable)."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError:
            return []
    if not isinstance(document, Mapping):
        return []
    return [s for s in _as_list(document.get("Statement", [])) if isinstance(s, Mapping)]


def grants_everything(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow" or "NotAction" in statement or "NotResource" in statement:
        return False
    actions = [str(a) for a in _as_list(statement.get("Action", []))]
    resources = [str(r) for r in _as_list(statement.get("Resource", []))]
    return any(a in ("*", "*:*") for a in actions) and "*" in resources


@resource_policy(
    "iam-no-admin-wildcard",
    "No IAM policy may grant Action '*' on Resource '*', and no principal may get AdministratorAccess "
    "(FSBP IAM.1): list the actions and resources the code calls.",
    [*POLICY_DOCUMENTS, *ATTACHMENTS],
)
def iam_no_admin_wildcard(args: ResourceValidationArgs, report: Report) -> None:
    if args.resource_type in ATTACHMENTS:
        arn = get(args.props, "policyArn")
        if arn in ADMIN_POLICIES:
            report(f"attaches {arn}")
        return
    document = get(args.props, "policy")
    if document is UNKNOWN:
        return
    for i, statement in enumerate(statements(document)):
        if grants_everything(statement):
            report(f"statement {statement.get('Sid', i)} allows every action on every resource")
