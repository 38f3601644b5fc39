"""A stack's plan as a diff compares it: resources and policy verdicts as plain JSON.

This file is also run by path, with `infra` and `policies` of another commit on `sys.path` (a temporary
worktree of the base ref, see `gitbase`): it imports them only inside functions and uses only what they
have long offered (`load_stack`, `run_plan`, `run_policies`, `available_stacks`, `stack_file`), so a base
older than this module plans too.

Usage when run: snapshot.py --out FILE [--cloud] [STACK ...]; FILE gets {stack: document | {"missing": true}
| {"error": message}}.
"""

from __future__ import annotations

import argparse
import gc
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from infra.plan import Plan
    from policies.offline import PolicyReport


def document(plan: Plan, report: PolicyReport) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "resources": [r.to_json() for r in plan.resources],
        "policy": report.to_json(),
    }


def plan_document(stack: str) -> dict[str, Any]:
    """Plan `stack` under mocks and run the policy pack over it."""
    from infra.config import load_stack
    from infra.plan import run_plan
    from policies.offline import run_policies

    plan = run_plan(load_stack(stack))
    return document(plan, run_policies(plan))


def cloud_stacks() -> list[str]:
    """The stacks Pulumi deploys (target aws); the local stack is never `pulumi up`. A stack file that does
    not load is listed, so that planning it reports the error."""
    from infra.config import available_stacks, load_stack
    from infra.errors import StreamgateError

    names = []
    for name in available_stacks():
        try:
            cfg = load_stack(name)
            # This file also plans older checkouts (a diff's base), whose stacks have no target kinds.
            kind = getattr(cfg, "kind", None)
            if not (kind.cloud if kind is not None else cfg.target == "aws"):
                continue
        except StreamgateError:
            pass
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Plan stacks and write their documents as JSON.")
    parser.add_argument("--out", required=True)
    parser.add_argument("--cloud", action="store_true", help="also every stack Pulumi deploys")
    parser.add_argument("stacks", nargs="*")
    args = parser.parse_args(argv)

    from infra.config import stack_file
    from infra.errors import StreamgateError

    names = list(dict.fromkeys([*args.stacks, *(cloud_stacks() if args.cloud else [])]))
    result: dict[str, Any] = {}
    for name in names:
        if not stack_file(name).is_file():
            result[name] = {"missing": True}
            continue
        try:
            result[name] = plan_document(name)
        except StreamgateError as exc:
            result[name] = {"error": str(exc)}
    with open(args.out, "w") as f:
        json.dump(result, f)
    gc.freeze()  # the process ends here: spare its shutdown a scan of every plan's heap


if __name__ == "__main__":
    main()
