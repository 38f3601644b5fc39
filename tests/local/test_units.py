"""The local platform's pure parts: port layout, weights files, preflight messages, rendered configs."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import yaml

from infra.config import load_stack, parse_stack
from infra.errors import ConfigError
from infra.local.errors import InvalidWeightsError, PreflightError
from infra.local.gateway import gateway_environment
from infra.local.layout import Layout, Paths
from infra.local.nginx import REGIONS, parse_group, render_group, validate
from infra.local.platform import LocalPlatform
from infra.local.preflight import Requirement, check_ports, locate_all
from infra.local.programs import Program
from infra.local.sample import RENDITIONS, SampleContent
from infra.local.state import Deployment, Secrets
from tests.local_platform import render_configs

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def test_local_stack_is_valid_and_two_regions() -> None:
    cfg = load_stack("local")
    assert cfg.target == "local"
    assert [r.name for r in cfg.regions] == ["local-a", "local-b"]
    assert cfg.local.base_port == 18000


def test_local_config_rejects_a_bad_sample_id(tmp_path: Path) -> None:
    doc = yaml.safe_load((STACKS / "Pulumi.local.yaml").read_text())
    doc["config"]["streamgate:local"]["sampleContentId"] = "Not Valid!"
    with pytest.raises(ConfigError, match=r"streamgate:local\.sampleContentId"):
        parse_stack("local", doc, tmp_path / "Pulumi.local.yaml")


def test_port_layout_is_deterministic_and_disjoint() -> None:
    layout = Layout.build(18000, ["local-a", "local-b"])
    shared = (layout.edge, layout.prometheus, layout.alertmanager, layout.pushgateway, layout.moto)
    assert (*shared, layout.profiles) == (18000, 18001, 18002, 18003, 18004, 18005)
    a, b = layout.regions
    assert (a.router, a.blue, a.green, a.redis, a.redis_endpoint, a.redis_exporter) == tuple(
        range(18020, 18026)
    )
    assert (b.router, b.blue, b.green) == (18040, 18041, 18042)
    assert (a.postgres, b.postgres) == (18026, 18046)
    ports = layout.ports()
    assert len(ports) == 6 + 2 * 6
    assert len(set(ports)) == len(ports)
    # The catalog's nodes and gateway processes 2 and 3 of each color (`scale apply`) are reserved too.
    reserved = layout.reserved_ports()
    assert len(set(reserved)) == len(reserved) == len(ports) + 2 * 2 * 2 + 2
    assert max(reserved) == 18053
    assert layout.redis_url("local-b") == "redis://127.0.0.1:18044/0"


def test_base_port_option_overrides_the_stack(tmp_path: Path) -> None:
    plat = LocalPlatform(load_stack("local"), base_port=31000, state_dir=tmp_path)
    assert plat.layout.edge == 31000
    assert plat.layout.gateway_url("local-b", "green") == "http://127.0.0.1:31042"


def test_long_state_dirs_get_a_short_supervisor_socket(tmp_path: Path) -> None:
    deep = tmp_path / ("x" * 120)
    sock = Paths(deep).supervisor_socket
    assert len(str(sock)) < 108
    assert sock == Paths(deep).supervisor_socket  # stable across calls


def test_weights_round_trip_through_the_include_file() -> None:
    ports = {"local-a": 18010, "local-b": 18020}
    text = render_group(REGIONS, {"local-a": 80, "local-b": 20}, ports)
    assert "server 127.0.0.1:18010 weight=80" in text
    assert parse_group(text, ports) == ({"local-a": 80, "local-b": 20}, frozenset())


def test_region_at_zero_is_a_standby_and_a_drained_region_is_down() -> None:
    ports = {"local-a": 18010, "local-b": 18020}
    standby = render_group(REGIONS, {"local-a": 100, "local-b": 0}, ports)
    assert "18020 weight=1 max_fails=1 fail_timeout=3s backup;" in standby
    drained = render_group(REGIONS, {"local-a": 100, "local-b": 0}, ports, frozenset({"local-b"}))
    assert "18020 weight=1 max_fails=1 fail_timeout=3s down;" in drained
    assert parse_group(drained, ports) == ({"local-a": 100, "local-b": 0}, frozenset({"local-b"}))
    colors = render_group("local-a", {"blue": 100, "green": 0}, {"blue": 18011, "green": 18012})
    assert "18012 weight=1 max_fails=1 fail_timeout=3s down;" in colors  # a canary at 0% gets nothing


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"local-a": 0, "local-b": 0}, "at least one region"),
        ({"local-a": 100}, "missing"),
        ({"local-a": 100, "local-b": 0, "local-z": 1}, "unknown"),
        ({"local-a": -1, "local-b": 100}, "integer 0..1000"),
    ],
)
def test_invalid_weights_are_refused(weights: dict[str, int], message: str) -> None:
    with pytest.raises(InvalidWeightsError, match=message):
        validate(REGIONS, weights, ["local-a", "local-b"], frozenset())


def test_supervisor_lines_escape_percent_and_quotes() -> None:
    prog = Program(
        "x", "gateway", ("echo", "50%"), Path("/tmp/x.log"), (1,), environment={"A": 'say "hi" 5%'}
    )
    assert prog.command_line == "echo 50%%"
    assert prog.environment_line == 'A="say \\"hi\\" 5%%"'


def test_missing_binary_names_the_debian_package_and_apt_line() -> None:
    req = Requirement("no-such-binary-streamgate", "imaginary-package")
    with pytest.raises(PreflightError) as err:
        locate_all([req])
    assert "imaginary-package" in str(err.value)
    assert "apt-get install -y --no-install-recommends imaginary-package" in str(err.value)
    assert err.value.exit_code == 2


def test_every_required_binary_and_module_is_installed_here() -> None:
    found = locate_all()
    assert {"nginx", "ngx_stream_module.so", "ngx_http_cache_purge_module.so", "supervisord"} <= set(found)


def test_busy_port_is_named_unless_it_is_ours() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PreflightError, match=rf"127\.0\.0\.1:{port} \(needed by nginx\)"):
            check_ports({port: "nginx"}, ours=set())
        check_ports({port: "nginx"}, ours={"nginx"})  # our running nginx holds it: fine


def test_gateway_environment_is_valid_gateway_settings(tmp_path: Path) -> None:
    """Every variable we set parses into the gateway's own settings model, with the values we meant."""
    from runtime.service.settings import GatewaySettings

    cfg = load_stack("local")
    plat = LocalPlatform(cfg, base_port=30000, state_dir=tmp_path)
    env = gateway_environment(
        cfg,
        plat.layout,
        plat.resources,
        Secrets.load_or_create(plat.paths),
        "local-b",
        "green",
        Deployment("9.9.9", {"STREAMGATE_FAULTS__ERROR_RATE": "0.2"}),
    )
    mp = pytest.MonkeyPatch()
    try:
        for key in list(__import__("os").environ):
            if key.startswith("STREAMGATE_"):
                mp.delenv(key)
        for key, value in env.items():
            mp.setenv(key, value)
        settings = GatewaySettings()
    finally:
        mp.undo()
    assert (settings.version, settings.color, settings.region) == ("9.9.9", "green", "local-b")
    assert settings.server.port == 30042
    assert settings.redis.url == "redis://127.0.0.1:30044/0"  # the region's endpoint, not the node
    assert settings.storage.bucket == "streamgate-local-content-local-a"
    assert settings.storage.l3_bucket == "streamgate-local-content-local-b"
    assert settings.cdn.purge_url == "http://127.0.0.1:30000"
    assert settings.faults.error_rate == 0.2
    assert settings.security.rate_limit.ip is not None and settings.security.rate_limit.ip.requests == 5000
    assert len(settings.auth.signing_key.get_secret_value()) >= 32


def test_sample_is_a_real_rendition_set_generated_once(tmp_path: Path) -> None:
    from runtime.service import uploads
    from runtime.service.hls import parse_master, parse_media

    cfg = load_stack("local")
    a = SampleContent.for_stack(cfg, tmp_path / "sample")
    made = (tmp_path / "sample" / "master.m3u8").stat().st_mtime_ns
    b = SampleContent.for_stack(cfg, tmp_path / "sample")
    assert a == b and (tmp_path / "sample" / "master.m3u8").stat().st_mtime_ns == made  # kept, not redone
    assert a.archive() == b.archive()
    master = parse_master(a.master)
    assert [v.rendition for v in master.variants] == [r.name for r in RENDITIONS]
    assert [v.resolution for v in master.variants] == [f"{r.width}x{r.height}" for r in RENDITIONS]
    assert all(v.codecs.startswith("avc1.") and "mp4a.40.2" in v.codecs for v in master.variants)
    for r in RENDITIONS:
        media = parse_media(a.files[f"{r.name}/index.m3u8"])
        assert media.segments == [f"{n}.ts" for n in range(cfg.local.sample_segments)]
        assert media.ended
    # What the gateway accepts as a set is exactly what was generated.
    members = uploads.read_set(a.content_id, a.archive())
    assert sorted(m.path.key for m in members) == sorted(f"v1/content/{a.content_id}/{n}" for n in a.files)
    for member in members:
        uploads.check(member)


def test_rendered_configs_pass_nginx_and_promtool_before_anything_runs(tmp_path: Path) -> None:
    plat = LocalPlatform(load_stack("local"), base_port=30100, state_dir=tmp_path)
    render_configs(plat)
    plat.router.nginx.test()  # raises RouterError with nginx's message if invalid
    check = subprocess.run(
        ["promtool", "check", "config", str(plat.paths.prometheus_conf)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "replicaof 127.0.0.1 30123" in plat.paths.redis_conf("local-b").read_text()
    assert "replicaof" not in plat.paths.redis_conf("local-a").read_text()


def test_status_of_a_platform_that_is_not_running(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from infra.local.cli import app

    out = CliRunner().invoke(app, ["status", "--json", "--state-dir", str(tmp_path), "--base-port", "30200"])
    assert out.exit_code == 1
    import json

    doc = json.loads(out.stdout)
    assert doc["running"] is False and doc["healthy"] is False
    assert {p["state"] for p in doc["parts"]} == {"NOT RUNNING"}
    assert "nginx" in {p["name"] for p in doc["parts"]}
