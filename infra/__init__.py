"""StreamGate's Pulumi program, offline plan and automation."""

from infra import sdk_import

# Before anything imports pulumi_aws or pulumi_kubernetes: see sdk_import for why.
sdk_import.install()
