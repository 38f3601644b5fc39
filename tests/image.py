"""The gateway image as runtime/Dockerfile defines it, without a container engine (none runs here): what it
installs (its COPY lines and the pip extra), its environment (ENV, with ARG defaults) and its entry command
(ENTRYPOINT + CMD). `runtime_environment` builds a fresh virtualenv holding exactly that installation."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "runtime" / "Dockerfile"


@dataclass
class Image:
    copies: list[tuple[list[str], str]] = field(default_factory=list)  # the build stage's COPY sources, dest
    extra: str = ""  # the pip extra the build stage installs
    env: dict[str, str] = field(default_factory=dict)  # the final stage's ENV
    command: list[str] = field(default_factory=list)  # ENTRYPOINT + CMD of the final stage
    user: str = ""
    exposed: list[int] = field(default_factory=list)


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", text)
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def parse(path: Path = DOCKERFILE) -> Image:
    image = Image()
    args: dict[str, str] = {}
    stage = 0
    entrypoint: list[str] = []
    cmd: list[str] = []
    for word, rest in instructions(path.read_text()):
        if word == "FROM":
            stage += 1
            if stage == 2:
                image.env, entrypoint, cmd = {}, [], []
        elif word == "ARG":
            name, _, default = rest.partition("=")
            args[name] = default
        elif word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                image.env[name] = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), ""), value)
        elif word == "COPY" and "--from" not in rest and stage == 1:
            *sources, dest = shlex.split(rest)
            image.copies.append((sources, dest))
        elif word == "RUN" and (match := re.search(r'pip install "\.\[(\w+)\]"', rest)):
            image.extra = match.group(1)
        elif word == "ENTRYPOINT":
            entrypoint = json.loads(rest)
        elif word == "CMD":
            cmd = json.loads(rest)
        elif word == "USER":
            image.user = rest
        elif word == "EXPOSE":
            image.exposed = [int(p) for p in rest.split()]
    image.command = entrypoint + cmd
    return image


def runtime_environment(image: Image, workdir: Path) -> Path:
    """A fresh virtualenv with what the image installs (the files its COPY lines take, the package with its
    extra, non-editable); returns its python. Built with uv from the same package index and cache."""
    source = workdir / "src"
    for sources, dest in image.copies:
        for item in sources:
            target = (
                source / dest / Path(item).name
                if dest.endswith("/") and not item.endswith("/")
                else source / dest
            )
            origin = ROOT / item
            if origin.is_dir():
                shutil.copytree(
                    origin, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
                )
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    venv = workdir / "venv"
    uv = str(Path(sys.executable).with_name("uv"))
    subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "-q",
            "--compile-bytecode",
            "--python",
            str(python),
            f"{source}[{image.extra}]",
        ],
        check=True,
    )
    return python
