"""Pulumi entry point (`main: infra/`): load the stack model, build the platform, export its outputs."""

import pulumi

from infra.config import load_stack
from infra.platform import build_platform

# `pulumi up` needs every secret the stack uses: name the missing ones before declaring anything.
platform = build_platform(load_stack(pulumi.get_stack(), require_secrets=True))
for key, value in platform.outputs.items():
    pulumi.export(key, value)
