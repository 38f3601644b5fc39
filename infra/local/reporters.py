"""How `streamgate local up` shows its progress: redrawn in place on a terminal, one line per phase in logs."""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table

from infra.clikit import err_console
from infra.local.platform import ProbeResult, Reporter


class LiveReporter(Reporter):
    """Draws the current phase and every probe's state on stderr while `up` waits."""

    def __init__(self, live: Live) -> None:
        self.live = live
        self.text = ""
        self.results: list[ProbeResult] = []

    def phase(self, text: str) -> None:
        self.text = text
        self._draw()

    def health(self, results: list[ProbeResult]) -> None:
        self.results = results
        self._draw()

    def _draw(self) -> None:
        table = Table("part", "health", box=None, show_header=False, padding=(0, 1))
        for r in self.results:
            mark = "[green]✓[/green]" if r.healthy else "[yellow]…[/yellow]"
            table.add_row(r.what, f"{mark} {r.detail if not r.healthy else ''}")
        self.live.update(Group(Spinner("dots", text=self.text), table))


class PlainReporter(Reporter):
    """One line per phase on stderr, for logs (CI, `make up` piped somewhere)."""

    def __init__(self) -> None:
        self.started = time.monotonic()

    def phase(self, text: str) -> None:
        err_console.print(f"[{time.monotonic() - self.started:5.1f}s] {text}", highlight=False)
