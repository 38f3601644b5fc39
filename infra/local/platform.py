"""`LocalPlatform`: bring a local platform up (idempotently), report its health, take it down, smoke it.

The CLI (`infra.local.cli`) and the tests' helper (`tests/local_platform.py`) drive this class; rollout and
failover automation use `router` (infra.local.nginx), `supervisor` and `deploy()`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from infra import http
from infra.alerts import rules_file
from infra.alerts.alertmanager import alertmanager_config
from infra.config import Color, StackConfig
from infra.local import aws, catalog
from infra.local import sample as samples
from infra.local.errors import LocalAbortedError, LocalPlatformError, PreflightError
from infra.local.gateway import AdminClient, gateway_environment, request
from infra.local.health import Probe, http_ok, probes, ready
from infra.local.layout import COLORS, Layout, Paths, gateway_program
from infra.local.nginx import REGIONS, NginxRouter, RouterState
from infra.local.playback import Playback, play
from infra.local.preflight import check_ports, locate_all, port_free
from infra.local.programs import GatewayProcess, Program, build_programs, port_owners
from infra.local.render import (
    make_dirs,
    render_all,
    render_gateway_targets,
    render_supervisor,
    write_changed,
    write_missing,
)
from infra.local.state import Deployment, PlatformState, Secrets, secure
from infra.local.supervisor import ProcessInfo, Supervisor, pid_alive, wait_for_exit

UP_TIMEOUT_SECONDS = 90.0
# Where the gateway keeps content in its origin bucket (runtime.service: StorageSettings.prefix).
ORIGIN_PREFIX = "content"
# Variables the invoking shell may carry that must not leak into the platform's processes.
_SCRUBBED_PREFIXES = ("STREAMGATE_", "AWS_")


@dataclass(frozen=True)
class ProbeResult:
    part: str
    what: str
    healthy: bool
    detail: str


@dataclass(frozen=True)
class PartStatus:
    """One supervisord program: its process state and the health of everything it serves."""

    name: str
    state: str
    pid: int
    uptime_seconds: float
    healthy: bool
    checks: list[ProbeResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "pid": self.pid,
            "uptime_seconds": round(self.uptime_seconds, 1),
            "healthy": self.healthy,
            "checks": [{"what": c.what, "healthy": c.healthy, "detail": c.detail} for c in self.checks],
        }


@dataclass
class UpResult:
    changes: list[str]
    seconds: float
    endpoints: dict[str, Any]

    @property
    def changed(self) -> bool:
        return bool(self.changes)


@dataclass(frozen=True)
class Fetch:
    status: int
    size: int
    sha256: str
    edge_cache: str  # nginx's X-Cache-Status
    gateway_tier: str  # the gateway's X-StreamGate-Cache (as cached by the edge on a HIT)
    seconds: float


@dataclass(frozen=True)
class SmokeResult:
    url: str
    fetches: list[Fetch]
    expected_sha256: str
    played: Playback  # the master playlist through the edge, every rendition decoded by ffmpeg
    source: Playback  # the same files decoded from disk
    catalog: catalog.CatalogSmoke | None = None  # the title, its renditions and the segment's record

    @property
    def matches_source(self) -> bool:
        return self.played.frames == self.source.frames

    @property
    def ok(self) -> bool:
        return (
            all(f.status == 200 and f.sha256 == self.expected_sha256 for f in self.fetches)
            and self.fetches[-1].edge_cache == "HIT"
            and self.played.total > 0
            and self.matches_source
            and (self.catalog is None or self.catalog.ok)
        )


class Reporter:
    """What `up` tells its caller while it works; the CLI draws it with rich, tests ignore it."""

    def phase(self, text: str) -> None:
        """A step started (rendering, starting, waiting, seeding)."""

    def health(self, results: list[ProbeResult]) -> None:
        """The latest probe results while waiting for health."""


@dataclass
class LocalPlatform:
    cfg: StackConfig
    base_port: int | None = None
    state_dir: Path | None = None
    paths: Paths = field(init=False)
    layout: Layout = field(init=False)

    def __post_init__(self) -> None:
        self.paths = Paths.for_stack(self.cfg.stack, self.state_dir)
        saved = PlatformState.load(self.paths)
        if self.base_port is None:
            self.base_port = saved.base_port if saved is not None else self.cfg.local.base_port
        self.layout = Layout.for_stack(self.cfg, self.base_port)
        self.resources = aws.AwsResources.for_stack(self.cfg.stack, self.layout.region_names)
        self.supervisor = Supervisor(
            self.paths.supervisor_conf, self.paths.supervisor_socket, self.paths.supervisor_pid
        )
        self.router = NginxRouter(self.paths, self.layout)

    # -- model --------------------------------------------------------------------------------
    def _state(self) -> PlatformState:
        saved = PlatformState.load(self.paths)
        assert self.base_port is not None
        state = PlatformState(
            self.cfg.stack,
            self.base_port,
            saved.deployments if saved else {},
            saved.processes if saved else {},
        )
        for region in self.layout.region_names:
            for color in COLORS:
                name = gateway_program(region, color)
                state.deployments.setdefault(name, Deployment(self.cfg.workload.tag_of(color)))
        return state

    def programs(
        self, binaries: dict[str, Path] | None = None, state: PlatformState | None = None
    ) -> list[Program]:
        binaries = binaries if binaries is not None else locate_all()
        state = state or self._state()
        secrets = Secrets.load_or_create(self.paths)
        gateways = [
            GatewayProcess(
                r,
                c,
                process,
                port,
                gateway_environment(
                    self.cfg,
                    self.layout,
                    self.resources,
                    secrets,
                    r,
                    c,
                    state.deployments[gateway_program(r, c)],
                    port,
                    catalog.catalog_target(self.layout, self.paths, r) if self.cfg.catalog.enabled else None,
                ),
            )
            for r in self.layout.region_names
            for c in COLORS
            for process, port in enumerate(
                self.layout.region(r).processes(c)[: state.processes.get(gateway_program(r, c), 1)], 1
            )
        ]
        # Prometheus keeps what predictive scaling reads (scale.historyDays), and a day more.
        return build_programs(
            self.layout,
            self.paths,
            binaries,
            gateways,
            self.resources.profile_bucket,
            self.cfg.scale.history_days + 1,
            catalog=self.cfg.catalog.enabled,
        )

    def gateway_programs(self, region: str, color: Color | None = None) -> list[str]:
        """The supervisord programs of a region's gateway processes (of one color, or of both)."""
        state = self._state()
        return [
            gateway_program(region, c, process)
            for c in ([color] if color else COLORS)
            for process in range(1, state.processes.get(gateway_program(region, c), 1) + 1)
        ]

    def initial_router_state(self) -> RouterState:
        """Before any automation: all traffic to the primary region (others on standby), live color 100%."""
        live = self.cfg.workload.live_color
        return RouterState(
            regions={r: (100 if r == self.layout.primary.name else 0) for r in self.layout.region_names},
            colors={r: {c: (100 if c == live else 0) for c in COLORS} for r in self.layout.region_names},
            redis_primary=self.layout.primary.name,
        )

    @property
    def admin(self) -> AdminClient:
        return AdminClient(
            self.cfg, self.layout, self.paths, Secrets.load_or_create(self.paths), self.resources
        )

    @property
    def sample(self) -> samples.SampleContent:
        """The sample title (generated with ffmpeg into the state directory the first time)."""
        return samples.SampleContent.for_stack(self.cfg, self.paths.root / "sample")

    def running(self) -> bool:
        return self.supervisor.alive()

    # -- up -----------------------------------------------------------------------------------
    def up(self, reporter: Reporter | None = None, timeout: float = UP_TIMEOUT_SECONDS) -> UpResult:
        """Render, start what is not running, wait for health, seed; idempotent (see `UpResult.changes`)."""
        report = reporter or Reporter()
        started = time.monotonic()
        changes: list[str] = []
        report.phase("preflight: binaries, modules and ports")
        binaries = locate_all()
        saved = PlatformState.load(self.paths)
        alive = self.supervisor.alive()
        if self.cfg.catalog.enabled and catalog.ensure_primary_cluster(self.layout, self.paths):
            changes.append(f"initialised the catalog database cluster of {self.layout.primary.name}")
        if saved is not None and saved.base_port != self.base_port:
            if alive:
                raise PreflightError(
                    f"the {self.cfg.stack} platform is running on base port {saved.base_port}; "
                    f"run `streamgate local down` before using --base-port {self.base_port}"
                )
            self._forget_layout()
            changes.append(f"moved to base port {self.base_port} (weights and Redis roles reset)")
        state = self._state()
        programs = self.programs(binaries, state)
        processes = self.supervisor.processes() if alive else {}
        ours = {n for n, p in processes.items() if p.state in ("RUNNING", "STARTING", "BACKOFF")}
        check_ports(port_owners(programs), ours)

        report.phase("rendering configs")
        make_dirs(self.paths, self.layout)
        rendered = render_all(
            self.cfg, self.layout, self.paths, programs, self._rules(), self._alertmanager()
        )
        written = write_changed(rendered.managed) + write_missing(rendered.once)
        secure(self.paths.supervisor_conf)
        if self.router.initialise(self.initial_router_state()):
            written.append(self.router.group_file(REGIONS))
        changes += [f"wrote {p.relative_to(self.paths.root)}" for p in written]
        state.save(self.paths, {"layout": self.layout.to_json(), "resources": self.resources.to_json()})

        report.phase("starting processes under supervisord")
        if not alive:
            self.supervisor.start(binaries["supervisord"], self._clean_env())
            changes.append("started supervisord")
        else:
            added, changed, removed = self.supervisor.reload_config()
            changes += [f"supervisord: added {n}" for n in added] + [
                f"supervisord: restarted {n}" for n in changed
            ]
            changes += [f"supervisord: removed {n}" for n in removed]
            self._reload_changed(set(written) - {self.paths.supervisor_conf}, set(added) | set(changed))
        changes += self._start(
            p.name
            for p in programs
            if p.autostart or (p.kind == "postgres" and catalog.initialised(self.paths, p.region or ""))
        )

        report.phase("waiting for moto (S3/KMS)")
        self._wait(report, [p for p in probes(self.layout) if p.part == "moto"], timeout, started)
        changes += self._start(p.name for p in programs if p.kind == "gateway")
        created = aws.ensure(self.resources, self.layout.moto_url)
        changes += [f"created {c} (moto keeps it in memory)" for c in created]
        if any(c.startswith("KMS key") for c in created):
            # moto lost its key: gateways that outlived it cache data keys wrapped under it, so whatever they
            # sealed from now on (content, L3 copies) no other process could open. Restart them.
            for p in programs:
                if p.kind == "gateway" and p.name in ours:
                    self.supervisor.restart_process(p.name)
                    changes.append(f"restarted {p.name} (its data keys were wrapped under the lost KMS key)")

        # The admin's TOTP factor needs only Redis (through the endpoint) and KMS: enroll it while the
        # gateways are still starting.
        report.phase("enrolling the local admin's TOTP factor")
        primary_redis = {"nginx", f"redis-{self.layout.primary.name}"}
        self._wait(report, [p for p in probes(self.layout) if p.part in primary_redis], timeout, started)
        if self.admin.enroll():
            changes.append("enrolled the local admin's TOTP factor")

        if self.cfg.catalog.enabled:
            report.phase("catalog database: roles, migrations, replicas")
            changes += catalog.prepare_primary(self.layout, self.paths)
            cloned = catalog.ensure_replicas(self.layout, self.paths)
            changes += [f"cloned the catalog replica of {r} (pg_basebackup)" for r in cloned]
            changes += self._start(catalog.program(r) for r in self.layout.region_names)

        report.phase("waiting for every part to be healthy")
        self._wait(report, probes(self.layout), timeout, started)

        report.phase("seeding sample content through the gateway's admin API")
        # Freshly created buckets mean moto lost its state (restart): the sample must be uploaded again
        # even if a cache tier still answers for it.
        changes += self._seed(force=bool(created))
        if self.cfg.catalog.enabled:
            sample = self.sample
            regions = self.layout.region_names
            registered = catalog.register_sample(self.admin, sample.content_id, sample.files, regions)
            changes += [registered] if registered else []
        return UpResult(changes, time.monotonic() - started, self.endpoints())

    def _clean_env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_PREFIXES)}

    def _forget_layout(self) -> None:
        """Files that name ports of another layout: weights and Redis configs are rendered afresh."""
        for path in [
            *self.paths.weights.glob("*.conf"),
            *(self.paths.redis_conf(r) for r in self.layout.region_names),
        ]:
            path.unlink(missing_ok=True)

    def _start(self, names: Any) -> list[str]:
        processes = self.supervisor.processes()
        started = []
        for name in names:
            info = processes.get(name)
            if info is None or info.state not in ("RUNNING", "STARTING", "BACKOFF"):
                self.supervisor.start_process(name, wait=False)
                started.append(f"started {name}")
        return started

    def _reload_changed(self, written: set[Path], restarted: set[str]) -> None:
        """Apply changed config files to programs supervisord did not restart anyway."""
        if self.paths.nginx_conf in written and "nginx" not in restarted:
            self.router.reload()
        prometheus = {self.paths.prometheus_conf, self.paths.rules_file}
        if written & prometheus and "prometheus" not in restarted:
            self._post(f"{self.layout.prometheus_url}/-/reload")
        if self.paths.alertmanager_conf in written and "alertmanager" not in restarted:
            self._post(f"{self.layout.alertmanager_url}/-/reload")

    @staticmethod
    def _post(url: str) -> None:
        with contextlib.suppress(OSError):  # not up yet: it reads the new file when it starts
            request("POST", url, b"")

    def wait_healthy(self, parts: list[str], timeout: float = 60.0) -> None:
        """Wait until every probe of `parts` (supervisord programs) passes."""
        checks = [p for p in probes(self.layout) if p.part in parts]
        self._wait(Reporter(), checks, timeout, time.monotonic())

    def _wait(self, report: Reporter, checks: list[Probe], timeout: float, started: float) -> None:
        while True:
            results = self.probe(checks)
            report.health(results)
            if all(r.healthy for r in results):
                return
            self._fail_fast(results)
            if time.monotonic() - started > timeout:
                bad = "; ".join(f"{r.what}: {r.detail}" for r in results if not r.healthy)
                raise LocalPlatformError(
                    f"not healthy after {timeout:.0f}s: {bad} (see `streamgate local logs PART`)"
                )
            time.sleep(0.2)

    def _fail_fast(self, results: list[ProbeResult]) -> None:
        """A program supervisord gave up on (FATAL) will not become healthy: say so with its log tail."""
        processes = self.supervisor.processes()
        for part in {r.part for r in results if not r.healthy}:
            info = processes.get(part)
            if info is not None and info.state == "FATAL":
                tail = self.supervisor.tail(part, 1500).strip().splitlines()[-8:]
                raise LocalPlatformError(f"{part} keeps failing to start: " + " | ".join(tail))

    def probe(self, checks: list[Probe] | None = None) -> list[ProbeResult]:
        checks = checks if checks is not None else probes(self.layout)
        with ThreadPoolExecutor(max_workers=8) as pool:
            outcomes = list(pool.map(lambda p: p.check(), checks))
        return [
            ProbeResult(p.part, p.what, ok, detail) for p, (ok, detail) in zip(checks, outcomes, strict=True)
        ]

    def _seed(self, force: bool = False) -> list[str]:
        changes: list[str] = []
        sample = self.sample
        live = self.layout.gateway_url(self.layout.primary.name, self.cfg.workload.live_color)
        status, body = request("GET", f"{live}{sample.path(samples.MASTER)}")
        # A cache tier may still answer after moto lost the objects: the origin must hold them too.
        in_origin = aws.count_objects(
            self.layout.moto_url,
            self.resources.content_buckets[self.layout.primary.name],
            f"{ORIGIN_PREFIX}/{sample.content_id}/",
        )
        if status == 200 and body == sample.master and in_origin == len(sample.files) and not force:
            return changes
        uploaded = samples.upload(self.admin, sample)
        changes.append(
            f"seeded content {sample.content_id!r} ({len(sample.renditions)} renditions, {uploaded} bytes) "
            "through the edge"
        )
        return changes

    # -- deploy (rollouts) --------------------------------------------------------------------
    def deploy(
        self,
        region: str,
        color: Color,
        version: str,
        settings: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        """Run `version` (a label locally: same code) on one gateway, with extra STREAMGATE_* settings, and
        wait until it is ready. Blue-green and canary rollouts use this to bring up the idle color."""
        state = self._state()
        state.deployments[gateway_program(region, color)] = Deployment(version, dict(settings or {}))
        self._apply_programs(state)
        # Every process of the color restarts with the new version (supervisord removed the changed ones).
        names = self.gateway_programs(region, color)
        self._start(names)
        started = time.monotonic()
        self._wait_gateways(names, timeout, started)

    # -- processes (predictive scaling's capacity knob) ----------------------------------------------
    def processes(self, region: str, color: Color) -> int:
        """How many gateway processes `color` runs in `region` (1 unless `set_processes` changed it)."""
        return self._state().processes.get(gateway_program(region, color), 1)

    def set_processes(self, region: str, color: Color, count: int, timeout: float = 30.0) -> None:
        """Run `count` gateway processes for `color` in `region`, the local analog of a Deployment's
        replicas: new ones start and answer /readyz before the router sends them traffic; removed ones
        leave the router first, then stop (gracefully: in-flight requests finish)."""
        limit = len(self.layout.region(region).processes(color))
        if not 1 <= count <= limit:
            raise LocalPlatformError(f"{region} {color}: 1 to {limit} gateway processes, not {count}")
        state = self._state()
        key = gateway_program(region, color)
        before = state.processes.get(key, 1)
        if count < before:
            self.router.write_processes(region, color, count)
        state.processes[key] = count
        self._apply_programs(state)
        names = self.gateway_programs(region, color)
        self._start(names)
        self._wait_gateways(names, timeout, time.monotonic())
        if count > before:
            self.router.write_processes(region, color, count)
        # Prometheus scrapes exactly the processes that run (rendered from the same programs; file
        # discovery picks the change up without a reload).
        write_changed({self.paths.gateway_targets: render_gateway_targets(self.programs(state=state))})

    def _apply_programs(self, state: PlatformState) -> None:
        """Save the state and make supervisord run its programs (added, changed and removed ones)."""
        state.save(self.paths, {"layout": self.layout.to_json(), "resources": self.resources.to_json()})
        programs = self.programs(state=state)
        write_changed({self.paths.supervisor_conf: render_supervisor(self.cfg, self.paths, programs)})
        secure(self.paths.supervisor_conf)
        self.supervisor.reload_config()

    def _wait_gateways(self, names: list[str], timeout: float, started: float) -> None:
        ports = {p.name: p.ports[0] for p in self.programs() if p.name in names}
        checks = [
            Probe(name, f"gateway {name}", partial(http_ok, f"{self.layout.url(port)}/readyz", ready))
            for name, port in ports.items()
        ]
        self._wait(Reporter(), checks, timeout, started)

    # -- status -------------------------------------------------------------------------------
    def status(self) -> list[PartStatus]:
        alive = self.supervisor.alive()
        processes: dict[str, ProcessInfo] = self.supervisor.processes() if alive else {}
        if alive:
            results = self.probe()
        else:  # whatever answers on these ports now is not ours: do not report it as our health
            results = [ProbeResult(p.part, p.what, False, "not running") for p in probes(self.layout)]
        names = list(dict.fromkeys([*processes, *(r.part for r in results)]))
        out = []
        for name in names:
            info = processes.get(name)
            checks = [r for r in results if r.part == name]
            healthy = bool(info and info.running) and all(c.healthy for c in checks)
            out.append(
                PartStatus(
                    name,
                    info.state if info else "NOT RUNNING",
                    info.pid if info else 0,
                    info.uptime_seconds if info else 0.0,
                    healthy,
                    checks,
                )
            )
        return out

    def extras(self) -> dict[str, Any]:
        """Router weights, Redis roles and what moto still holds (it keeps state in memory only)."""
        extra: dict[str, Any] = {}
        with contextlib.suppress(Exception):
            extra["router"] = self.router.loaded_state().to_json()
        with contextlib.suppress(Exception):
            gaps = aws.missing(self.resources, self.layout.moto_url)
            extra["moto"] = {"in_memory": True, "missing": gaps}
        return extra

    # -- down ---------------------------------------------------------------------------------
    def down(self, purge: bool = False, timeout: float = 30.0) -> list[str]:
        """Stop every process (each with its stop signal), then supervisord; keep data unless `purge`."""
        stopped: list[str] = []
        if self.supervisor.alive():
            processes = self.supervisor.processes()
            pids = [p.pid for p in processes.values() if p.pid]
            self.supervisor.shutdown(timeout)
            for pid in pids:
                wait_for_exit(pid, timeout)
            stopped = [n for n, p in processes.items() if p.pid]
        else:
            daemon = self.supervisor.pid()
            if daemon is not None and pid_alive(daemon):
                raise LocalPlatformError(
                    f"supervisord (pid {daemon}) runs but does not answer on {self.paths.supervisor_socket}"
                )
        state = PlatformState.load(self.paths)
        if state is not None:
            listening = [p for p in port_owners(self.programs(state=state)) if not port_free(p)]
            if listening:
                raise LocalPlatformError(f"ports still in use after down: {listening}")
        if purge:
            shutil.rmtree(catalog.root(self.paths), ignore_errors=True)  # may live outside the state dir
            shutil.rmtree(self.paths.root, ignore_errors=True)
            self.paths.supervisor_socket.unlink(missing_ok=True)
        return stopped

    # -- smoke --------------------------------------------------------------------------------
    def smoke(self, segment: int = 0) -> SmokeResult:
        """Purge one segment of the sample's top rendition from the edge and fetch it twice through the
        edge (MISS, then HIT); then play the master playlist through the edge with ffmpeg, every
        rendition, and compare the decoded frames with the same files decoded from disk."""
        sample = self.sample
        name = f"{sample.renditions[-1]}/{segment}.ts"
        if name not in sample.files:
            count = len(sample.segments) // len(sample.renditions)
            raise PreflightError(f"the sample has {count} segments per rendition (0..{count - 1})")
        url = f"{self.layout.edge_url}{sample.path(name)}"
        request("PURGE", url)
        fetches = [fetch(url), fetch(url)]
        ffmpeg = samples.ffmpeg_binary()
        played = play(f"{self.layout.edge_url}{sample.path(samples.MASTER)}", ffmpeg)
        source = play(str(sample.root / samples.MASTER), ffmpeg)
        digest = hashlib.sha256(sample.files[name]).hexdigest()
        listed = None
        if self.cfg.catalog.enabled:
            edge = self.layout.edge_url
            listed = catalog.smoke(edge, sample.content_id, sample.renditions, name, digest)
        return SmokeResult(url, fetches, digest, played, source, listed)

    # -- endpoints ----------------------------------------------------------------------------
    def endpoints(self) -> dict[str, Any]:
        lay = self.layout
        return {
            "edge": lay.edge_url,
            "weights": f"{lay.edge_url}/-/weights",
            "prometheus": lay.prometheus_url,
            "alertmanager": lay.alertmanager_url,
            "pushgateway": lay.pushgateway_url,
            "s3_kms": lay.moto_url,
            "profiles": lay.profiles_url,
            "profile_bucket": self.resources.profile_bucket,
            "regions": {
                r.name: {
                    "router": lay.url(r.router),
                    "gateways": {c: lay.url(r.gateway(c)) for c in COLORS},
                    "redis_endpoint": lay.redis_url(r.name),
                    "redis_node": lay.redis_node_url(r.name),
                    "postgres": f"postgresql://127.0.0.1:{r.postgres}/catalog",
                    "redis_exporter": lay.url(r.redis_exporter),
                    "content_bucket": self.resources.content_buckets[r.name],
                    "backup_bucket": self.resources.backup_buckets[r.name],
                }
                for r in lay.regions
            },
            "kms_key": self.resources.kms_key_alias,
            "state_dir": str(self.paths.root),
        }

    def log_file(self, part: str) -> Path:
        known = ["supervisord", "nginx-access", *(p.name for p in self.programs())]
        if part not in known:
            raise PreflightError(f"unknown part {part!r}; parts: {', '.join(known)}")
        return self.paths.log(part)

    # -- alert rules (infra.alerts) -----------------------------------------------------------
    def _rules(self) -> str:
        return rules_file(self.cfg)

    def _alertmanager(self) -> str:
        # Receivers without integrations: alerts are visible in Alertmanager's UI/API, nobody is paged.
        return alertmanager_config(self.cfg)


def fetch(url: str) -> Fetch:
    started = time.perf_counter()
    status, headers, body, error = http.get(url, 10)
    if not status:
        raise LocalPlatformError(error)
    return Fetch(
        status,
        len(body),
        hashlib.sha256(body).hexdigest(),
        headers.get("X-Cache-Status", "-"),
        headers.get("X-StreamGate-Cache", "-"),
        time.perf_counter() - started,
    )


def interrupted() -> LocalAbortedError:
    return LocalAbortedError(
        "interrupted: processes started so far keep running; `streamgate local down` stops them"
    )
