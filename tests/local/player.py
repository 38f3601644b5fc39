"""The browser side of the player tests: the page (tests/player/index.html with hls.js from the npm
registry, pinned in package-lock.json, installed with `npm ci` on first use) served on its own loopback
port, i.e. another origin than the edge, and Debian's Chromium driven headless through chromedriver."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.servers import LOOPBACK, free_port, require_binary

PLAYER_DIR = Path(__file__).parents[1] / "player"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# As this machine's notes say Chromium must run here: no sandbox (root), no GPU, and none of its own
# network traffic (the closed network refuses it), with a fresh profile each time.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
)


def install_player() -> None:
    """`npm ci` unless node_modules already holds exactly the locked hls.js."""
    lock = json.loads((PLAYER_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/hls.js"]["version"]
    installed = PLAYER_DIR / "node_modules" / "hls.js" / "package.json"
    with contextlib.suppress(OSError, ValueError):
        if json.loads(installed.read_text())["version"] == pinned:
            return
    npm = require_binary("npm", "npm")  # it installs hls.js from the npm registry with `npm ci`
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PLAYER_DIR, check=True, timeout=300)


@dataclass
class PlayerPage:
    port: int

    @property
    def origin(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def url(self, src: str) -> str:
        return f"{self.origin}/index.html?" + urllib.parse.urlencode({"src": src})

    @staticmethod
    def wait(driver: Any, condition: str, timeout: float) -> dict[str, Any]:
        """Poll until the page's JavaScript `condition` holds; returns `window.player`. A fatal player
        error fails at once, with what the page saw."""
        deadline = time.monotonic() + timeout
        state: dict[str, Any] = {}
        while time.monotonic() < deadline:
            state = driver.execute_script("return window.player || {}")
            if any(e.get("fatal") for e in state.get("errors", [])):
                raise AssertionError(f"the player failed: {state}")
            if driver.execute_script(f"return !!(window.player && ({condition}))"):
                return dict(driver.execute_script("return window.player"))
            time.sleep(0.2)
        current = driver.execute_script("return document.getElementById('video').currentTime")
        raise AssertionError(f"not within {timeout:.0f}s: {condition} (currentTime {current}, state {state})")


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def player_page() -> Iterator[PlayerPage]:
    install_player()
    port = free_port()
    handler = functools.partial(_Quiet, directory=str(PLAYER_DIR))
    server = http.server.ThreadingHTTPServer((LOOPBACK, port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield PlayerPage(port)
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def chromium_driver(profile: Path) -> Iterator[Any]:
    """Headless Chromium under chromedriver (selenium), with a fresh profile directory."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for binary in (CHROMIUM, CHROMEDRIVER):
        if not binary.exists():
            pytest.fail(f"{binary} is missing: `make setup` installs chromium and chromium-driver")
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        yield driver
    finally:
        driver.quit()
