"""What `pip install 'streamgate[infra]'` gives is a CLI that works: a fresh environment with that extra
alone (no dev, local or report extras, the package not editable) runs `streamgate --help`, every group's
help, `--version` and `plan dev`; a command that needs another extra says which to install (exit 2)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.cli import GROUPS
from infra.config import PROJECT_ROOT

pytestmark = pytest.mark.slow
SOURCES = ("infra", "runtime", "policies", "pyproject.toml", "README.md")


@pytest.fixture(scope="module")
def infra_only(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The `streamgate` script of a fresh virtualenv holding `.[infra]`, built with uv from its cache."""
    work = tmp_path_factory.mktemp("infra-only")
    source = work / "src"
    for name in SOURCES:
        origin = PROJECT_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    venv = work / "venv"
    uv = str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run(
        [uv, "pip", "install", "-q", "--compile-bytecode", "--python", str(python), f"{source}[infra]"],
        check=True,
        timeout=900,
    )
    yield venv / "bin" / "streamgate"


def sg(script: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["STREAMGATE_STACKS_DIR"] = str(PROJECT_ROOT / "stacks")  # stack files are not part of the package
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, cwd=script.parent, timeout=timeout
    )


def test_the_infra_extra_alone_lacks_what_only_the_local_platform_or_reports_need(infra_only: Path) -> None:
    python = infra_only.with_name("python")
    probe = "import importlib.util as u; print([m for m in ('jinja2', 'supervisor', 'moto', 'matplotlib', 'pytest') if u.find_spec(m)])"
    found = subprocess.run([str(python), "-c", probe], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "[]"


def test_help_version_and_every_group_run_with_the_infra_extra_alone(infra_only: Path) -> None:
    top = sg(infra_only, "--help")
    assert top.returncode == 0, top.stderr
    assert all(name in top.stdout for name in GROUPS)
    assert sg(infra_only, "--version").stdout.startswith("streamgate ")
    for name in GROUPS:
        group = sg(infra_only, name, "--help")
        assert group.returncode == 0, f"streamgate {name} --help: {group.stderr[-2000:]}"


def test_plan_dev_runs_with_the_infra_extra_alone(infra_only: Path) -> None:
    plan = sg(infra_only, "plan", "dev", "--json")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert plan.stdout.lstrip().startswith("[") and '"type": "aws:' in plan.stdout


def test_a_command_of_the_local_extra_names_it(infra_only: Path, tmp_path: Path) -> None:
    result = sg(infra_only, "local", "status", "--stack", "local", "--state-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "pip install 'streamgate[local]'" in result.stderr
