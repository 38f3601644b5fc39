"""Render a platform's config files from the stack model with the jinja2 templates in `templates/`.

`render_all` returns path → text without touching the disk, so `up` can tell what changed (and say
"nothing changed" when re-run on a healthy platform). Files owned by automation afterwards (the nginx
weights and the Redis configs, whose role failover rewrites) are rendered only when absent.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from infra.atomic import write_atomic
from infra.config import PROJECT_ROOT, StackConfig
from infra.local.layout import LOOPBACK, Layout, Paths
from infra.local.preflight import NGINX_MODULES_DIR
from infra.local.programs import Program
from runtime import content_paths
from runtime.security.cors import EXPOSE_HEADERS, OriginAllowList

TEMPLATES = Path(__file__).parent / "templates"
_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # config files, not HTML
)


def render(template: str, **context: object) -> str:
    return _env.get_template(template).render(**context)


@dataclass(frozen=True)
class Rendered:
    """Config files of one platform: `managed` are rewritten on every `up`, `once` only when absent."""

    managed: dict[Path, str]
    once: dict[Path, str]


def render_supervisor(cfg: StackConfig, paths: Paths, programs: list[Program]) -> str:
    return render(
        "supervisord.conf.j2",
        stack=cfg.stack,
        socket=paths.supervisor_socket,
        pidfile=paths.supervisor_pid,
        logs=paths.logs,
        project_root=PROJECT_ROOT,
        programs=programs,
    )


def render_prometheus(cfg: StackConfig, layout: Layout, paths: Paths) -> str:
    """Prometheus' config. Gateway processes come from `gateway_targets`' file (file discovery), so that
    adding or removing one changes no scrape config: a changed scrape config restarts the job's scrape
    loops without end-of-run staleness, and a removed process's `up` would linger for the 5 min lookback."""
    return render(
        "prometheus.yml.j2",
        stack=cfg.stack,
        layout=layout,
        gateway_targets=paths.gateway_targets,
        loopback=LOOPBACK,
        rules_file=paths.rules_file,
        scrape_interval=cfg.local.scrape_interval_seconds,
        scrape_timeout=max(1, cfg.local.scrape_interval_seconds - 1)
        if cfg.local.scrape_interval_seconds > 1
        else 1,
        evaluation_interval=cfg.local.evaluation_interval_seconds,
    )


def render_gateway_targets(programs: list[Program]) -> str:
    """Every gateway process the platform runs, as a scrape target (as every pod is), in file-SD form."""
    targets = [
        {"targets": [f"{LOOPBACK}:{p.ports[0]}"], "labels": {"region": p.region, "color": p.color}}
        for p in programs
        if p.kind == "gateway"
    ]
    return json.dumps(targets, indent=1) + "\n"


def _cors(cfg: StackConfig) -> dict[str, object]:
    """The edge's CORS answer for cached content: the same allow-list and headers as the gateway's."""
    allow = OriginAllowList.of(cfg.cors.allow_origins)
    return {
        "cors_regex": allow.regex() if allow.enabled else "",
        "cors_value": '"*"' if allow.any else "$http_origin",
        "cors_vary": allow.enabled and not allow.any,
        "cors_expose": ", ".join(EXPOSE_HEADERS),
    }


def render_all(
    cfg: StackConfig,
    layout: Layout,
    paths: Paths,
    programs: list[Program],
    rules: str,
    alertmanager: str,
) -> Rendered:
    managed = {
        paths.supervisor_conf: render_supervisor(cfg, paths, programs),
        paths.nginx_conf: render(
            "nginx.conf.j2",
            stack=cfg.stack,
            domain=cfg.domain,
            layout=layout,
            paths=paths,
            loopback=LOOPBACK,
            modules_dir=NGINX_MODULES_DIR,
            run_as_root=os.geteuid() == 0,
            cache_mb=cfg.local.edge_cache_max_megabytes,
            segment_ttl=cfg.cdn.segment_ttl_seconds,
            manifest_ttl=cfg.cdn.manifest_ttl_seconds,
            edge_segments=content_paths.EDGE_SEGMENTS,
            edge_playlists=content_paths.EDGE_PLAYLISTS,
            **_cors(cfg),
        ),
        paths.prometheus_conf: render_prometheus(cfg, layout, paths),
        paths.gateway_targets: render_gateway_targets(programs),
        paths.rules_file: rules,
        paths.alertmanager_conf: alertmanager,
    }
    once = {
        paths.redis_conf(region.name): render(
            "redis.conf.j2",
            region=region.name,
            port=region.redis,
            data=paths.redis_data(region.name),
            replicaof=None if region.name == layout.primary.name else layout.primary.redis,
        )
        for region in layout.regions
    }
    return Rendered(managed, once)


def write_changed(files: Mapping[Path, str]) -> list[Path]:
    """Write files whose content differs from what is on disk; return those written."""
    changed = []
    for path, text in files.items():
        if path.exists() and path.read_text() == text:
            continue
        write_atomic(path, text)
        changed.append(path)
    return changed


def write_missing(files: Mapping[Path, str]) -> list[Path]:
    written = []
    for path, text in files.items():
        if not path.exists():
            write_atomic(path, text)
            written.append(path)
    return written


def make_dirs(paths: Paths, layout: Layout) -> None:
    dirs = [
        paths.logs,
        paths.data / "prometheus",
        paths.data / "alertmanager",
        paths.data / "pushgateway",
        paths.nginx / "tmp",
        paths.nginx / "cache",
        paths.weights,
        paths.rules_file.parent,
        paths.alertmanager_conf.parent,
        *(paths.redis_data(r.name) for r in layout.regions),
        paths.redis_conf(layout.primary.name).parent,
    ]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
