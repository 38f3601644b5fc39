"""Where everything of a local platform lives: loopback ports derived from one base port, and files.

Port layout (deterministic, from `base` = `--base-port` or the stack's `local.basePort`, default 18000):

    base+0   edge: nginx HTTP server, the CDN's analog (proxy cache, PURGE, /-/healthz, /-/weights)
    base+1   Prometheus
    base+2   Alertmanager
    base+3   Pushgateway
    base+4   moto server (S3 and KMS)
    base+5   profile receiver: the Pyroscope push API, profiles kept in the object store (Pyroscope's analog)
    base+6…9 reserved

    Region i (0 = the primary, in stack order) gets the block r = base + 20·(i+1):
    r+0  region router: nginx server proxying to the region's colors (blue/green/canary weights)
    r+1  gateway blue
    r+2  gateway green
    r+3  redis-server (the region's node: primary in the first region, replica elsewhere)
    r+4  Redis endpoint: nginx stream proxy to the current primary (ElastiCache's primary endpoint analog)
    r+5  prometheus-redis-exporter of the region's node
    r+6  PostgreSQL, the catalog (the primary in the first region, a streaming replica elsewhere)
    r+7…9 reserved
    r+10…11 gateway blue, processes 2 and 3 (`streamgate scale apply` adds them ahead of demand)
    r+12…13 gateway green, processes 2 and 3
    r+14…19 reserved

So with the default base: edge 18000, local-a gateways 18021/18022, local-b gateways 18041/18042.
Everything binds 127.0.0.1 only.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from infra.config import COLORS, PROJECT_ROOT, Color, StackConfig

LOOPBACK = "127.0.0.1"
__all__ = ["COLORS"]  # re-exported: the local platform's modules take it from here
REGION_BLOCK = 20
# Gateway processes a color can have (the local analog of the HPA's replicas): the block has ports for 3.
MAX_PROCESSES_PER_COLOR = 3
_EXTRA_PROCESS_PORTS = {"blue": 10, "green": 12}  # offset of a color's processes 2 and 3 in its region block
# AF_UNIX socket paths are limited to 108 bytes on Linux.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class RegionPorts:
    name: str
    router: int
    blue: int
    green: int
    redis: int
    redis_endpoint: int
    redis_exporter: int
    postgres: int

    def gateway(self, color: Color) -> int:
        return self.blue if color == "blue" else self.green

    def processes(self, color: Color) -> tuple[int, ...]:
        """The ports of the color's gateway processes 1..MAX_PROCESSES_PER_COLOR (1 is `gateway(color)`)."""
        extra = self.router + _EXTRA_PROCESS_PORTS[color]
        return (self.gateway(color), *range(extra, extra + MAX_PROCESSES_PER_COLOR - 1))


@dataclass(frozen=True)
class Layout:
    """Every port of one local platform."""

    base: int
    edge: int
    prometheus: int
    alertmanager: int
    pushgateway: int
    moto: int
    profiles: int
    regions: tuple[RegionPorts, ...]

    @classmethod
    def build(cls, base: int, region_names: list[str]) -> Layout:
        regions = tuple(
            RegionPorts(
                name=name,
                router=(r := base + REGION_BLOCK * (i + 1)),
                blue=r + 1,
                green=r + 2,
                redis=r + 3,
                redis_endpoint=r + 4,
                redis_exporter=r + 5,
                postgres=r + 6,
            )
            for i, name in enumerate(region_names)
        )
        return cls(base, base, base + 1, base + 2, base + 3, base + 4, base + 5, regions)

    @classmethod
    def for_stack(cls, cfg: StackConfig, base_port: int | None = None) -> Layout:
        base = base_port if base_port is not None else cfg.local.base_port
        return cls.build(base, [r.name for r in cfg.regions])

    def region(self, name: str) -> RegionPorts:
        for region in self.regions:
            if region.name == name:
                return region
        raise KeyError(f"no region {name!r} in this platform (regions: {', '.join(self.region_names)})")

    @property
    def region_names(self) -> list[str]:
        return [r.name for r in self.regions]

    @property
    def primary(self) -> RegionPorts:
        return self.regions[0]

    def url(self, port: int) -> str:
        return f"http://{LOOPBACK}:{port}"

    @property
    def edge_url(self) -> str:
        return self.url(self.edge)

    @property
    def prometheus_url(self) -> str:
        return self.url(self.prometheus)

    @property
    def alertmanager_url(self) -> str:
        return self.url(self.alertmanager)

    @property
    def pushgateway_url(self) -> str:
        return self.url(self.pushgateway)

    @property
    def moto_url(self) -> str:
        return self.url(self.moto)

    @property
    def profiles_url(self) -> str:
        return self.url(self.profiles)

    def ports(self) -> list[int]:
        """Every port of the platform, shared ones first."""
        ports = [self.edge, self.prometheus, self.alertmanager, self.pushgateway, self.moto, self.profiles]
        for r in self.regions:
            ports += [r.router, r.blue, r.green, r.redis, r.redis_endpoint, r.redis_exporter]
        return ports

    def reserved_ports(self) -> list[int]:
        """`ports()`, the catalog's and those of the gateway processes `streamgate scale apply` may start."""
        spare = [p for r in self.regions for c in COLORS for p in r.processes(c)[1:]]
        spare += [r.postgres for r in self.regions]  # the catalog's nodes, when the stack has one
        return self.ports() + spare

    def gateway_url(self, region: str, color: Color) -> str:
        return self.url(self.region(region).gateway(color))

    def redis_url(self, region: str) -> str:
        """The region's Redis endpoint (through nginx, always the current primary)."""
        return f"redis://{LOOPBACK}:{self.region(region).redis_endpoint}/0"

    def redis_node_url(self, region: str) -> str:
        """The region's own redis-server (primary or replica), bypassing the endpoint."""
        return f"redis://{LOOPBACK}:{self.region(region).redis}/0"

    def to_json(self) -> dict[str, object]:
        return {
            "base": self.base,
            "edge": self.edge,
            "prometheus": self.prometheus,
            "alertmanager": self.alertmanager,
            "pushgateway": self.pushgateway,
            "moto": self.moto,
            "profiles": self.profiles,
            "regions": [r.__dict__ for r in self.regions],
        }


def tail_lines(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a log file (read from its last 256 KiB)."""
    with path.open("rb") as f:
        f.seek(0, 2)
        size = f.tell()
        f.seek(max(0, size - 256 * 1024))
        return f.read().decode(errors="replace").splitlines()[-lines:] if lines > 0 else []


def gateway_program(region: str, color: Color, process: int = 1) -> str:
    """The supervisord program of a color's gateway process (1: the one rollouts deploy and probe)."""
    return f"gateway-{region}-{color}" if process == 1 else f"gateway-{region}-{color}-{process}"


@dataclass(frozen=True)
class Paths:
    """Files of one platform under its state directory (`.streamgate/<stack>/` unless given)."""

    root: Path

    @classmethod
    def for_stack(cls, stack: str, state_dir: Path | None = None) -> Paths:
        if state_dir is None:
            env = os.environ.get("STREAMGATE_LOCAL_STATE_DIR")
            state_dir = Path(env) if env else PROJECT_ROOT / ".streamgate" / stack
        return cls(state_dir.resolve())

    @property
    def state_file(self) -> Path:
        return self.root / "platform.json"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def supervisor_conf(self) -> Path:
        return self.root / "supervisord.conf"

    @property
    def supervisor_pid(self) -> Path:
        return self.root / "supervisord.pid"

    @property
    def supervisor_socket(self) -> Path:
        sock = self.root / "supervisor.sock"
        if len(str(sock)) <= _MAX_SOCKET_PATH:
            return sock
        # A deep state dir (e.g. pytest's tmp) would overflow sun_path: use a short, stable name instead.
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"streamgate-{digest}.sock"

    @property
    def nginx(self) -> Path:
        """nginx's prefix (`nginx -p`): conf, weights, cache, temp files."""
        return self.root / "nginx"

    @property
    def nginx_conf(self) -> Path:
        return self.nginx / "nginx.conf"

    @property
    def nginx_pid(self) -> Path:
        return self.nginx / "nginx.pid"

    @property
    def weights(self) -> Path:
        return self.nginx / "weights"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def prometheus_conf(self) -> Path:
        return self.prometheus / "prometheus.yml"

    @property
    def gateway_targets(self) -> Path:
        """Prometheus' file discovery of the gateway processes (as Kubernetes discovery is on clusters)."""
        return self.prometheus / "gateways.json"

    @property
    def rules_file(self) -> Path:
        return self.prometheus / "rules" / "streamgate.rules.yml"

    @property
    def alertmanager_conf(self) -> Path:
        return self.root / "alertmanager" / "alertmanager.yml"

    def redis_conf(self, region: str) -> Path:
        return self.root / "redis" / f"{region}.conf"

    def redis_data(self, region: str) -> Path:
        return self.data / "redis" / region

    def log(self, program: str) -> Path:
        return self.logs / f"{program}.log"
