"""Offline plan benchmark: wall time of `streamgate plan STACK`, each run a fresh process as a user or CI runs it.

Rows: the interpreter alone (`python -c pass`), `streamgate --help` (CLI start-up), the plan of dev and of
prod, and the prod plan with the SDKs imported the standard way (no `infra.sdk_import` finder: every
generated annotation evaluated at import) to show what that finder is worth. Floor: the prod plan under 5 s.

CI previews: every stack Pulumi deploys planned in one process (`plan --all`), and diffed against a base
ref (`plan --all --diff HEAD`: the base planned from a temporary worktree, in a second process, while the
head plans). Those run in a scratch repository holding this checkout's files, so that the benchmark never
adds worktrees to the repository it measures. Floor: all stacks diffed against a ref under 15 s.

Usage: bench_plan.py [--quick]. The last line is one JSON object with every figure and floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.infra.preview_support import project_repo  # noqa: E402

PY = sys.executable
STREAMGATE = str(Path(PY).with_name("streamgate"))
FLOOR_S = 5.0
FLOOR_ALL_DIFF_S = 15.0
STANDARD_IMPORT = (
    "import sys, infra, infra.sdk_import as s; sys.meta_path.remove(s.SdkFinder);"
    "from infra.cli import main; sys.argv = ['streamgate', 'plan', 'prod']; main()"
)
CASES = {
    "python -c pass": [PY, "-c", "pass"],
    "streamgate --help": [STREAMGATE, "--help"],
    "plan dev": [STREAMGATE, "plan", "dev"],
    "plan prod": [STREAMGATE, "plan", "prod"],
    "plan prod, standard SDK import": [PY, "-c", STANDARD_IMPORT],
}
# Run in the scratch repository, with its code first on the path.
SCRATCH_CASES = {
    "plan --all": [PY, "-m", "infra.cli", "plan", "--all"],
    "plan --all --diff HEAD": [PY, "-m", "infra.cli", "plan", "--all", "--diff", "HEAD"],
}


def wall(cmd: list[str], cwd: Path = ROOT) -> float:
    env = {**os.environ, "PYTHONPATH": str(cwd)} if cwd != ROOT else None
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs per case instead of 7")
    runs = 3 if parser.parse_args().quick else 7
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as scratch:
        repo = Path(scratch)
        project_repo(repo)
        wall(CASES["plan prod"])  # warm the bytecode caches and the page cache
        wall(SCRATCH_CASES["plan --all --diff HEAD"], repo)
        # Interleave the cases so machine noise hits all alike.
        times: dict[str, list[float]] = {name: [] for name in [*CASES, *SCRATCH_CASES]}
        for _ in range(runs):
            for name, cmd in CASES.items():
                times[name].append(wall(cmd))
            for name, cmd in SCRATCH_CASES.items():
                times[name].append(wall(cmd, repo))
    print(f"{'case':34} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, ts in times.items():
        print(f"{name:34} {statistics.median(ts):9.2f} {min(ts):7.2f} {max(ts):7.2f}")
    prod = statistics.median(times["plan prod"])
    standard = statistics.median(times["plan prod, standard SDK import"])
    all_diff = statistics.median(times["plan --all --diff HEAD"])
    print(f"prod plan floor {FLOOR_S:.0f} s: {'met' if prod < FLOOR_S else 'MISSED'}")
    print(
        f"all stacks diffed against a ref, floor {FLOOR_ALL_DIFF_S:.0f} s: "
        f"{'met' if all_diff < FLOOR_ALL_DIFF_S else 'MISSED'}"
    )
    result = {
        name: {
            "median_s": round(statistics.median(ts), 3),
            "min_s": round(min(ts), 3),
            "max_s": round(max(ts), 3),
        }
        for name, ts in times.items()
    }
    print(
        json.dumps(
            {
                "runs": runs,
                "cases": result,
                "prod_plan_s": round(prod, 3),
                "floor_s": FLOOR_S,
                "floor_met": prod < FLOOR_S,
                "standard_import_over_ours": round(standard / prod, 2),
                "all_stacks_diff_s": round(all_diff, 3),
                "all_stacks_diff_floor_s": FLOOR_ALL_DIFF_S,
                "all_stacks_diff_floor_met": all_diff < FLOOR_ALL_DIFF_S,
            }
        )
    )


if __name__ == "__main__":
    main()
