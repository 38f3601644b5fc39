"""CLI start-up benchmark: `streamgate --help`, `--version` and TAB completion, each a fresh process as a
shell runs them. Wall time and CPU time (user + system of the child: less sensitive to a loaded machine).

Rows: the interpreter alone (`python -c pass`) and typer alone (`import typer`) as floors nothing can beat;
`--help` as it runs now (groups load lazily) and with every group imported first (as before issue 22: the
peer that shows what lazy loading is worth); completion of a group name (imports no group), of a
subcommand inside each group (imports that group's CLI module only), and of a subcommand's option.
Floor: `--help` and every completion under 0.3 s, judged on the median CPU time (what a start-up costs:
on an idle machine its wall time, which a loaded machine inflates) and shown beside the best wall time.

Usage: bench_cli.py [--quick]. The last line is one JSON object with every figure and the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from infra.cli import GROUPS  # noqa: E402

PY = sys.executable
STREAMGATE = str(Path(PY).with_name("streamgate"))
FLOOR_S = 0.3
EAGER_HELP = (
    "import sys; from infra import cli; cli.add_groups(); sys.argv = ['streamgate', '--help']; cli.main()"
)


def completion(words: str) -> tuple[list[str], dict[str, str]]:
    """The environment bash's completion function sets: the words so far, the last one being completed."""
    count = len(words.split()) - (0 if words.endswith(" ") else 1)
    return [STREAMGATE], {
        "_STREAMGATE_COMPLETE": "complete_bash",
        "COMP_WORDS": words,
        "COMP_CWORD": str(count),
    }


CASES: dict[str, tuple[list[str], dict[str, str]]] = {
    "python -c pass": ([PY, "-c", "pass"], {}),
    "python -c 'import typer'": ([PY, "-c", "import typer"], {}),
    "streamgate --help": ([STREAMGATE, "--help"], {}),
    "streamgate --help, every group imported": ([PY, "-c", EAGER_HELP], {}),
    "streamgate --version": ([STREAMGATE, "--version"], {}),
    "complete `streamgate ro`": completion("streamgate ro"),
    **{f"complete `streamgate {g} `": completion(f"streamgate {g} ") for g in GROUPS},
    "complete `streamgate rollout canary --ver`": completion("streamgate rollout canary --ver"),
}
FLOORED = [
    name for name in CASES if name.startswith(("streamgate --help", "complete")) and "every" not in name
]


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(
        cmd, env={**os.environ, **env}, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5 runs per case instead of 15")
    runs = 5 if parser.parse_args().quick else 15
    for cmd, env in CASES.values():  # warm the bytecode and page caches
        measure(cmd, env)
    wall: dict[str, list[float]] = {name: [] for name in CASES}
    cpu: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(runs):  # interleaved, so machine noise hits every case alike
        for name, (cmd, env) in CASES.items():
            w, c = measure(cmd, env)
            wall[name].append(w)
            cpu[name].append(c)
    print(f"{'case':44} {'wall median s':>13} {'min s':>7} {'cpu median s':>12}")
    for name in CASES:
        print(
            f"{name:44} {statistics.median(wall[name]):13.3f} {min(wall[name]):7.3f} {statistics.median(cpu[name]):12.3f}"
        )
    worst = max(FLOORED, key=lambda n: statistics.median(cpu[n]))
    worst_s = statistics.median(cpu[worst])
    worst_wall = max(FLOORED, key=lambda n: min(wall[n]))
    eager = statistics.median(wall["streamgate --help, every group imported"])
    lazy = statistics.median(wall["streamgate --help"])
    print(
        f"slowest floored case (cpu median): {worst} {worst_s:.3f} s; floor {FLOOR_S} s: "
        f"{'met' if worst_s < FLOOR_S else 'MISSED'}; best wall time of the slowest: {worst_wall} "
        f"{min(wall[worst_wall]):.3f} s"
    )
    print(f"--help with every group imported / lazily: {eager / lazy:.1f}x")
    print(
        json.dumps(
            {
                "runs": runs,
                "cases": {
                    name: {
                        "wall_median_s": round(statistics.median(wall[name]), 3),
                        "wall_min_s": round(min(wall[name]), 3),
                        "cpu_median_s": round(statistics.median(cpu[name]), 3),
                    }
                    for name in CASES
                },
                "floor_s": FLOOR_S,
                "slowest_floored": worst,
                "slowest_floored_cpu_median_s": round(worst_s, 3),
                "slowest_floored_wall_min_s": round(min(wall[worst_wall]), 3),
                "floor_met": worst_s < FLOOR_S,
                "eager_over_lazy_help": round(eager / lazy, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
