"""Offline plan benchmark: wall time of `streamgate plan STACK`, each run a fresh process as a user or CI runs it.

Rows: the interpreter alone (`python -c pass`), `streamgate --help` (CLI start-up), the plan of dev and of
prod, and the prod plan with the SDKs imported the standard way (no `infra.sdk_import` finder: every
generated annotation evaluated at import) to show what that finder is worth. Floor: the prod plan under 5 s.

Usage: bench_plan.py [--quick]. The last line is one JSON object with every figure and floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
STREAMGATE = str(Path(PY).with_name("streamgate"))
FLOOR_S = 5.0
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


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 runs per case instead of 7")
    runs = 3 if parser.parse_args().quick else 7
    wall(CASES["plan prod"])  # warm the bytecode caches and the page cache
    # Interleave the cases so machine noise hits all alike.
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):
        for name, cmd in CASES.items():
            times[name].append(wall(cmd))
    print(f"{'case':34} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, ts in times.items():
        print(f"{name:34} {statistics.median(ts):9.2f} {min(ts):7.2f} {max(ts):7.2f}")
    prod = statistics.median(times["plan prod"])
    standard = statistics.median(times["plan prod, standard SDK import"])
    print(f"prod plan floor {FLOOR_S:.0f} s: {'met' if prod < FLOOR_S else 'MISSED'}")
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
            }
        )
    )


if __name__ == "__main__":
    main()
