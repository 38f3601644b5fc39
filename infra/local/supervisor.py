"""Process control over supervisord's XML-RPC interface on its unix socket (never by parsing its CLI output)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import xmlrpc.client
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from infra.local.errors import LocalPlatformError

RUNNING_STATES = frozenset({"RUNNING"})
STARTING_STATES = frozenset({"STARTING", "BACKOFF"})


@dataclass(frozen=True)
class ProcessInfo:
    name: str
    state: str  # STOPPED STARTING RUNNING BACKOFF STOPPING EXITED FATAL UNKNOWN
    pid: int
    uptime_seconds: float
    description: str

    @property
    def running(self) -> bool:
        return self.state in RUNNING_STATES

    @classmethod
    def from_rpc(cls, info: Mapping[str, Any]) -> ProcessInfo:
        uptime = float(info["now"] - info["start"]) if info.get("pid") else 0.0
        return cls(
            str(info["name"]), str(info["statename"]), int(info["pid"]), uptime, str(info["description"])
        )


class Supervisor:
    """One supervisord, identified by its config file and unix socket."""

    def __init__(self, conf: Path, socket: Path, pidfile: Path) -> None:
        self.conf = conf
        self.socket = socket
        self.pidfile = pidfile

    def _proxy(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    @contextlib.contextmanager
    def _rpc(self) -> Iterator[Any]:
        try:
            yield self._proxy().supervisor
        except xmlrpc.client.Fault as exc:
            raise LocalPlatformError(f"supervisord refused: {exc.faultString}") from exc
        except OSError as exc:
            raise LocalPlatformError(f"supervisord is not answering on {self.socket}: {exc}") from exc

    def alive(self) -> bool:
        """True if a supervisord answers on the socket and reports RUNNING."""
        if not self.socket.exists():
            return False
        try:
            state = self._proxy().supervisor.getState()
        except (OSError, xmlrpc.client.Error):
            return False
        return bool(state.get("statename") == "RUNNING")

    def pid(self) -> int | None:
        try:
            return int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def start(self, supervisord: Path, env: Mapping[str, str], timeout: float = 15.0) -> None:
        """Start supervisord (it daemonizes) and wait until it answers."""
        result = subprocess.run(
            [str(supervisord), "-c", str(self.conf)],
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise LocalPlatformError(
                f"supervisord failed to start: {(result.stderr or result.stdout).strip()}"
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.alive():
                return
            time.sleep(0.05)
        raise LocalPlatformError(f"supervisord did not answer on {self.socket} within {timeout:.0f}s")

    def processes(self) -> dict[str, ProcessInfo]:
        with self._rpc() as rpc:
            infos = rpc.getAllProcessInfo()
        return {i["name"]: ProcessInfo.from_rpc(i) for i in infos}

    def info(self, name: str) -> ProcessInfo:
        with self._rpc() as rpc:
            return ProcessInfo.from_rpc(rpc.getProcessInfo(name))

    def start_process(self, name: str, wait: bool = False, timeout: float = 60.0) -> None:
        """Start a program; with `wait`, until it is RUNNING. supervisord's own wait reports the first quick
        exit as final (SPAWN_ERROR), but it retries such a start (startretries): only FATAL, STOPPED or the
        timeout mean the program will not run, and then the error carries the end of its log."""
        with self._rpc() as rpc:
            try:
                rpc.startProcess(name, False)
            except xmlrpc.client.Fault as exc:
                if "ALREADY_STARTED" not in exc.faultString and not (
                    wait and "SPAWN_ERROR" in exc.faultString
                ):
                    raise
        if not wait:
            return
        deadline = time.monotonic() + timeout
        while True:
            info = self.info(name)
            if info.running:
                return
            if info.state in ("FATAL", "STOPPED") or time.monotonic() > deadline:
                raise LocalPlatformError(
                    f"{name} did not start ({info.state}: {info.description}); its log ends:\n"
                    + self.tail(name, 2000)
                )
            time.sleep(0.1)

    def stop_process(self, name: str, wait: bool = True) -> None:
        with self._rpc() as rpc:
            try:
                rpc.stopProcess(name, wait)
            except xmlrpc.client.Fault as exc:
                if "NOT_RUNNING" not in exc.faultString:
                    raise

    def restart_process(self, name: str) -> None:
        self.stop_process(name)
        self.start_process(name)

    def signal_process(self, name: str, sig: str) -> None:
        with self._rpc() as rpc:
            rpc.signalProcess(name, sig)

    def reload_config(self) -> tuple[list[str], list[str], list[str]]:
        """Re-read the config file and apply it: add new programs, restart changed ones, drop removed ones.

        Returns (added, changed, removed) as `supervisorctl update` would act on them."""
        with self._rpc() as rpc:
            [[added, changed, removed]] = rpc.reloadConfig()
            for name in removed + changed:
                with contextlib.suppress(xmlrpc.client.Fault):
                    rpc.stopProcessGroup(name, True)
                rpc.removeProcessGroup(name)
            for name in changed + added:
                rpc.addProcessGroup(name)
        return list(added), list(changed), list(removed)

    def shutdown(self, timeout: float = 30.0) -> None:
        """Stop every program (each with its own stop signal and wait), then supervisord itself."""
        pid = self.pid()
        if self.alive():
            with self._rpc() as rpc:
                rpc.stopAllProcesses(True)
                rpc.shutdown()
        if pid is not None:
            wait_for_exit(pid, timeout)

    def tail(self, name: str, length: int = 4096) -> str:
        with self._rpc() as rpc:
            text, _offset, _overflow = rpc.tailProcessStdoutLog(name, 0, length)
        return cast(str, text)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours still "exists"; read its state to tell.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.05)
    raise LocalPlatformError(f"process {pid} still running {timeout:.0f}s after it was asked to stop")


def terminate(pid: int, timeout: float = 10.0) -> None:
    """SIGTERM a process we started (by its id), then SIGKILL if it lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        wait_for_exit(pid, timeout)
    except LocalPlatformError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        wait_for_exit(pid, 5.0)
