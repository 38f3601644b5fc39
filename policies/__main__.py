"""What the Pulumi engine runs for `pulumi preview --policy-pack policies`: it builds the PolicyPack, which
starts the analyzer's gRPC server, prints its port and blocks. Policies live in plain modules."""

import sys
from pathlib import Path

# The engine runs this file with runpy, which puts this folder first on sys.path; put the project root there
# instead so modules import as the `policies` package and none of them shadows a top-level module.
_PACK_DIR = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _PACK_DIR]
sys.path.insert(0, str(_PACK_DIR.parent))

from pulumi_policy import PolicyPack  # noqa: E402

from policies.pack import DEFAULT_LEVEL, DESCRIPTION, PACK_NAME, POLICIES  # noqa: E402

PolicyPack(name=PACK_NAME, policies=list(POLICIES), enforcement_level=DEFAULT_LEVEL, description=DESCRIPTION)
