"""The stacks the preview workflow runs over, as the JSON list a job matrix takes (`fromJSON`): the stacks
Pulumi deploys, the same ones `streamgate plan --all` plans.

    python -m infra.ci.matrix            # ["dev","prod","staging"]
"""

from __future__ import annotations

import json
import sys

from infra.preview.snapshot import cloud_stacks


def main() -> None:
    sys.stdout.write(json.dumps(cloud_stacks(), separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
