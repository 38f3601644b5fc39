"""The base side of a diff planned from a git ref: a temporary worktree of that commit, planned by its own
code and stack files in a second process on the same interpreter and packages (`.venv`), while this process
plans the head."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.config import PROJECT_ROOT
from infra.preview import snapshot
from infra.preview.errors import PreviewError, PreviewInputError

# Runs snapshot.py by path, so that `import infra` finds the worktree's package (first on sys.path: the
# current directory), not this checkout's.
_BOOT = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"


def git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    """Run git; its stderr becomes the error's message."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise PreviewInputError("git is not installed: --diff REF needs it (or give a saved plan)") from None
    except subprocess.CalledProcessError as exc:
        raise PreviewError(exc.stderr.strip() or f"git {' '.join(args)} failed") from None
    return done.stdout.strip()


def repo_root() -> Path:
    try:
        return Path(git("rev-parse", "--show-toplevel"))
    except PreviewError:
        raise PreviewInputError(
            f"{PROJECT_ROOT} is not in a git repository: --diff takes a git ref there, or a saved plan file"
        ) from None


def resolve(ref: str) -> str:
    """The commit `ref` names; an unknown ref is bad input."""
    root = repo_root()
    try:
        return git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}", cwd=root)
    except PreviewError:
        raise PreviewInputError(
            f"--diff {ref}: neither a saved plan file nor a commit of {root} "
            "(give a branch, tag or commit; in CI fetch the base first, e.g. `git fetch origin main`)"
        ) from None


@dataclass
class BaseRun:
    """The base's planning process; `result()` waits for it."""

    ref: str
    commit: str
    process: subprocess.Popen[bytes]
    out: Path
    log: Path

    @property
    def label(self) -> str:
        return f"{self.ref} ({self.commit[:12]})"

    def result(self) -> dict[str, dict[str, Any]]:
        """Per stack: its document, {"missing": True} (no such stack at the base) or {"error": message}."""
        code = self.process.wait()
        if code != 0:
            lines = self.log.read_text(errors="replace").strip().splitlines()
            last = lines[-1] if lines else f"exit code {code}"
            raise PreviewError(f"cannot plan the base {self.label}: {last}")
        documents: dict[str, dict[str, Any]] = json.loads(self.out.read_text())
        return documents


@contextlib.contextmanager
def planning(ref: str, stacks: list[str], cloud: bool = False) -> Iterator[BaseRun]:
    """Start planning `stacks` (and with `cloud`, every stack Pulumi deploys) as of `ref`; the worktree is
    removed on exit."""
    commit = resolve(ref)
    root = repo_root()
    scratch = Path(tempfile.mkdtemp(prefix="streamgate-base-"))
    tree = scratch / "tree"
    git("worktree", "add", "--detach", "--quiet", str(tree), commit, cwd=root)
    try:
        env = {k: v for k, v in os.environ.items() if k != "STREAMGATE_STACKS_DIR"}
        env["PYTHONPATH"] = os.pathsep.join([str(tree), *filter(None, [env.get("PYTHONPATH")])])
        out, log = scratch / "documents.json", scratch / "stderr.log"
        args = [sys.executable, "-c", _BOOT, snapshot.__file__, "--out", str(out)]
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [*args, *(["--cloud"] if cloud else []), *stacks],
                cwd=tree,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        run = BaseRun(ref=ref, commit=commit, process=process, out=out, log=log)
        try:
            yield run
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    finally:
        with contextlib.suppress(PreviewError):
            git("worktree", "remove", "--force", str(tree), cwd=root)
        shutil.rmtree(scratch, ignore_errors=True)
        with contextlib.suppress(PreviewError):
            git("worktree", "prune", cwd=root)
