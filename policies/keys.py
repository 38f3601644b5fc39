"""KMS: customer-managed keys rotate automatically, at least yearly."""

from __future__ import annotations

from pulumi_policy import ResourceValidationArgs

from policies.base import Report, flag, get, number, resource_policy, setting

KMS_KEY = "aws:kms/key:Key"
DEFAULT_MAX_ROTATION_DAYS = 365
# Only symmetric encryption keys can rotate automatically (AWS rejects rotation for the others).
ROTATABLE_SPECS = (None, "SYMMETRIC_DEFAULT")


@resource_policy(
    "kms-key-rotation",
    "KMS keys must rotate automatically: set enable_key_rotation=True and rotation_period_in_days ≤ "
    "maxRotationPeriodDays (365 by default).",
    [KMS_KEY],
    config={
        "maxRotationPeriodDays": {
            "type": "integer",
            "minimum": 90,
            "maximum": 2560,
            "default": DEFAULT_MAX_ROTATION_DAYS,
            "description": "The longest rotation period a key may have, in days.",
        }
    },
)
def kms_key_rotation(args: ResourceValidationArgs, report: Report) -> None:
    spec = get(args.props, "customerMasterKeySpec") or get(args.props, "keySpec")
    if spec not in ROTATABLE_SPECS:
        return
    if not flag(get(args.props, "enableKeyRotation")):
        report("automatic rotation is off")
        return
    maximum = setting(args.get_config(), "maxRotationPeriodDays", DEFAULT_MAX_ROTATION_DAYS)
    period = number(get(args.props, "rotationPeriodInDays"))
    if period is not None and period > maximum:
        report(f"rotates every {period:g} days, more than {maximum:g}")
