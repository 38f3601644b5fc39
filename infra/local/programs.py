"""The processes of a local platform: one `Program` per supervisord program, built from the stack model."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infra.config import PROJECT_ROOT, Color
from infra.local.layout import LOOPBACK, Layout, Paths, gateway_program

# Start order (supervisord priority): data and observability first, then nginx. `up` starts the gateways
# itself as soon as moto answers (their imports then overlap the creation of their buckets and key).
_PRIORITY = {"moto": 10, "redis": 20, "postgres": 20, "redis-exporter": 30, "prometheus": 40}
_PRIORITY |= {"alertmanager": 40, "pushgateway": 40, "profiles": 40, "nginx": 50, "gateway": 60}


@dataclass(frozen=True)
class Program:
    name: str
    kind: str  # moto | redis | redis-exporter | prometheus | alertmanager | pushgateway | profiles | nginx | gateway
    argv: tuple[str, ...]
    log: Path
    ports: tuple[int, ...]
    region: str | None = None
    color: str | None = None
    autostart: bool = True
    stopsignal: str = "TERM"
    startsecs: int = 1
    environment: Mapping[str, str] = field(default_factory=dict)
    directory: Path = PROJECT_ROOT
    user: str | None = None  # run as this user (PostgreSQL refuses root)

    @property
    def priority(self) -> int:
        return _PRIORITY[self.kind]

    @property
    def command_line(self) -> str:
        # supervisord expands %(...)s in its config: a literal % must be doubled.
        return shlex.join(self.argv).replace("%", "%%")

    @property
    def environment_line(self) -> str:
        def quote(value: str) -> str:
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%") + '"'

        return ",".join(f"{k}={quote(v)}" for k, v in sorted(self.environment.items()))


@dataclass(frozen=True)
class GatewayProcess:
    """One gateway process: a color has 1 to MAX_PROCESSES_PER_COLOR of them (`streamgate scale`)."""

    region: str
    color: Color
    process: int  # 1-based
    port: int
    environment: Mapping[str, str]

    @property
    def name(self) -> str:
        return gateway_program(self.region, self.color, self.process)


def _postgres(layout: Layout, paths: Paths, region: str) -> Program:
    """The region's catalog node; `up` starts it once its cluster exists (initdb, basebackup)."""
    import os

    from infra.catalog.postgres import SERVICE_USER
    from infra.local import catalog

    return Program(
        catalog.program(region),
        "postgres",
        catalog.command(layout, paths, region),
        paths.log(catalog.program(region)),
        (layout.region(region).postgres,),
        region=region,
        # Started by `up` (as gateways are), so the rendered config does not change once a replica exists.
        autostart=False,
        stopsignal="INT",  # fast shutdown: sessions end, a clean checkpoint is written
        startsecs=0,
        user=SERVICE_USER if os.geteuid() == 0 else None,
    )


def build_programs(
    layout: Layout,
    paths: Paths,
    binaries: Mapping[str, Path],
    gateways: Sequence[GatewayProcess],
    profile_bucket: str,
    retention_days: int = 2,
    *,
    catalog: bool = True,
) -> list[Program]:
    """Every program of the platform. Prometheus keeps `retention_days` of data (predictive scaling reads
    weeks of history)."""
    programs: list[Program] = [
        Program(
            "moto",
            "moto",
            (str(binaries["moto_server"]), "-H", LOOPBACK, "-p", str(layout.moto)),
            paths.log("moto"),
            (layout.moto,),
        )
    ]
    for region in layout.regions:
        if catalog:
            programs.append(_postgres(layout, paths, region.name))
        programs.append(
            Program(
                f"redis-{region.name}",
                "redis",
                (str(binaries["redis-server"]), str(paths.redis_conf(region.name))),
                paths.log(f"redis-{region.name}"),
                (region.redis,),
                region=region.name,
            )
        )
        programs.append(
            Program(
                f"redis-exporter-{region.name}",
                "redis-exporter",
                (
                    str(binaries["prometheus-redis-exporter"]),
                    f"-redis.addr=redis://{LOOPBACK}:{region.redis}",
                    f"-web.listen-address={LOOPBACK}:{region.redis_exporter}",
                ),
                paths.log(f"redis-exporter-{region.name}"),
                (region.redis_exporter,),
                region=region.name,
            )
        )
    programs += [
        Program(
            "prometheus",
            "prometheus",
            (
                str(binaries["prometheus"]),
                f"--config.file={paths.prometheus_conf}",
                f"--storage.tsdb.path={paths.data / 'prometheus'}",
                f"--storage.tsdb.retention.time={retention_days}d",
                "--storage.tsdb.retention.size=2GB",
                f"--web.listen-address={LOOPBACK}:{layout.prometheus}",
                f"--web.external-url={layout.prometheus_url}/",
                "--web.enable-lifecycle",
                "--web.enable-admin-api",
            ),
            paths.log("prometheus"),
            (layout.prometheus,),
        ),
        Program(
            "alertmanager",
            "alertmanager",
            (
                str(binaries["prometheus-alertmanager"]),
                f"--config.file={paths.alertmanager_conf}",
                f"--storage.path={paths.data / 'alertmanager'}",
                f"--web.listen-address={LOOPBACK}:{layout.alertmanager}",
                f"--web.external-url={layout.alertmanager_url}/",
                "--cluster.listen-address=",  # no gossip port: one instance, loopback only
            ),
            paths.log("alertmanager"),
            (layout.alertmanager,),
        ),
        Program(
            "pushgateway",
            "pushgateway",
            (
                str(binaries["prometheus-pushgateway"]),
                f"--web.listen-address={LOOPBACK}:{layout.pushgateway}",
                f"--persistence.file={paths.data / 'pushgateway' / 'metrics'}",
                "--persistence.interval=5s",
            ),
            paths.log("pushgateway"),
            (layout.pushgateway,),
        ),
        Program(
            "profiles",
            "profiles",
            (
                sys.executable,
                "-m",
                "infra.profiles.sink",
                "--port",
                str(layout.profiles),
                "--endpoint",
                layout.moto_url,
                "--bucket",
                profile_bucket,
            ),
            paths.log("profiles"),
            (layout.profiles,),
        ),
        Program(
            "nginx",
            "nginx",
            (str(binaries["nginx"]), "-p", f"{paths.nginx}/", "-c", str(paths.nginx_conf), "-e", "stderr"),
            paths.log("nginx"),
            (layout.edge, *(r.router for r in layout.regions), *(r.redis_endpoint for r in layout.regions)),
            stopsignal="QUIT",  # graceful: finish in-flight requests (worker_shutdown_timeout bounds it)
        ),
    ]
    for gateway in gateways:
        programs.append(
            Program(
                gateway.name,
                "gateway",
                (sys.executable, "-m", "runtime.service"),
                paths.log(gateway.name),
                (gateway.port,),
                region=gateway.region,
                color=gateway.color,
                autostart=False,
                startsecs=2,
                environment=gateway.environment,
            )
        )
    return programs


def port_owners(programs: list[Program]) -> dict[int, str]:
    return {port: p.name for p in programs for port in p.ports}
