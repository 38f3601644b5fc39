"""Helpers of the preview tests: documents of real plans, and stack files edited as a pull request would."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

import infra.plan
from infra.config import PROJECT_ROOT, StackConfig, stack_file
from infra.plan import Plan, run_plan
from infra.preview import snapshot
from infra.preview.snapshot import document
from policies.offline import run_policies
from tests.conftest import _plan

Document = dict[str, Any]


def document_of_config(cfg: StackConfig, secrets: dict[str, str] | None = None) -> Document:
    plan = run_plan(cfg, secrets=secrets)
    return document(plan, run_policies(plan))


def use_cached_plans(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the plan command plan from the session's cached plans (tests of the command, not the mocks),
    and print tables wide enough not to wrap inside a cell."""
    from infra import clikit

    def cached(cfg: StackConfig, program: Any = None, **_: Any) -> Plan:
        return _plan(cfg.stack)

    monkeypatch.setitem(clikit._consoles, "console", Console(width=250))
    monkeypatch.setattr(infra.plan, "run_plan", cached)
    monkeypatch.setattr(snapshot, "plan_document", shipped_document)


@cache
def shipped_document(stack: str) -> Document:
    """The document of a shipped stack file, from the session's cached plan (tests/conftest.py)."""
    plan = _plan(stack)
    return document(plan, run_policies(plan))


def edited_stack_file(
    directory: Path, stack: str, edit: Callable[[dict[str, Any]], None], source: Path | None = None
) -> Path:
    """A copy of `stack`'s file in `directory` with `edit` applied to its `config:` mapping."""
    document_ = yaml.safe_load((source or stack_file(stack)).read_text())
    edit(document_["config"])
    path = directory / f"Pulumi.{stack}.yaml"
    directory.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document_, sort_keys=False))
    return path


def set_secret(ciphertext: str) -> Callable[[dict[str, Any]], None]:
    """An edit that sets the Redis auth token as `pulumi config set --secret` writes it."""

    def edit(config: dict[str, Any]) -> None:
        config["streamgate:redisAuthToken"] = {"secure": ciphertext}

    return edit


GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "preview test",
    "GIT_AUTHOR_EMAIL": "preview@example.com",
    "GIT_COMMITTER_NAME": "preview test",
    "GIT_COMMITTER_EMAIL": "preview@example.com",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_IDENTITY}
    done = subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def project_repo(root: Path) -> str:
    """This checkout's files as they are now (tracked and new, not ignored) committed to a fresh repository
    at `root`, so that `--diff REF` runs against refs a test controls and never adds worktrees to the
    repository under test. Returns the commit."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    for name in listed:
        if (PROJECT_ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_ROOT / name, root / name)
    git(root, "init", "-q", "-b", "main")
    return commit(root, "as shipped")


def streamgate(root: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """The CLI of the code at `root` (its own `infra` first on the path), on this interpreter."""
    env = {k: v for k, v in os.environ.items() if k != "STREAMGATE_STACKS_DIR"}
    env["PYTHONPATH"] = str(root)
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
