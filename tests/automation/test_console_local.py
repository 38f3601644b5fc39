"""`streamgate console` on the local platform during a real canary, looked at in Debian's headless Chromium:
the region rows, the weights bar and a firing alert are checked in screenshots (their pixels), an operator
pauses from the CLI and promotes from the page after an MFA step-up through the gateway (a wrong code is
refused first), `rollout status --watch --json` follows it to the end, the notifications arrive in order
and `streamgate history` names every actor."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
import yaml
from PIL import Image
from typer.testing import CliRunner

from infra.automation.rollout.cli import app as rollout_app
from infra.local.gateway import TOTP_PERIOD_SECONDS
from tests.automation.conftest import REGION, RolloutEnv
from tests.automation.load import Load
from tests.local.player import chromium_driver
from tests.servers import LOOPBACK, free_port, http_receiver, port_open, wait_until

pytestmark = [pytest.mark.local_platform, pytest.mark.slow]
STREAMGATE = [sys.executable, "-c", "from infra.cli import main; main()"]
# The page's colors (infra/console/static/console.css).
BLUE, GREEN, TRAFFIC = (0x1F, 0x6F, 0xEB), (0x2D, 0xA4, 0x4E), (0x82, 0x50, 0xDF)
ALERT_BORDER, ALERT_BACKGROUND = (0xCF, 0x22, 0x2E), (0xFF, 0xEB, 0xE9)
ALERT = "StreamgateCanaryAnalysisFailing"


def share(png: bytes, *colors: tuple[int, int, int], tolerance: int = 40) -> list[float]:
    """The share of a screenshot's pixels near each color."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    pixels = list(image.getdata())
    return [
        sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, c, strict=True)) <= tolerance)
        / len(pixels)
        for c in colors
    ]


def left_edge(png: bytes, width: int = 2) -> bytes:
    """The leftmost columns of a screenshot, as a PNG."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    out = io.BytesIO()
    image.crop((0, 0, width, image.height)).save(out, "PNG")
    return out.getvalue()


def split(png: bytes) -> float:
    """The blue share of a blue/green bar (0..1), from its pixels."""
    blue, green = share(png, BLUE, GREEN)
    return blue / (blue + green)


@contextlib.contextmanager
def console(env: dict[str, str], *flags: str) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [*STREAMGATE, "console", "--stack", "local", "--port", str(port), "--refresh", "1", *flags],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until(lambda: port_open(port), 30, "the console")
        yield f"http://{LOOPBACK}:{port}"
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
        assert "Traceback" not in err, err


def get(url: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, Any, Any]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.headers, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            last = check()
            if last:
                return last
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout:.0f}s (last: {last!r})")


def test_the_console_is_read_only_by_default_and_answers_only_for_loopback(rollout_env: RolloutEnv) -> None:
    with console(rollout_env.env) as url:
        status, headers, page = get(f"{url}/")
        assert status == 200 and b"/static/console.js" in page
        assert "default-src 'self'" in headers["Content-Security-Policy"]
        status, _, body = get(f"{url}/api/snapshot")
        snapshot = json.loads(body)
        assert status == 200 and snapshot["actions"] is False and snapshot["stack"] == "local"
        regions = {r["name"]: r for r in snapshot["regions"]}
        assert regions[REGION]["primary"] and regions[REGION]["health"]["healthy"] is True
        assert regions[REGION]["rollout"]["live_weights"] == {"blue": 100, "green": 0}
        for path in ("/api/step-up", "/api/actions"):  # no actions without --allow-actions
            assert get(f"{url}{path}", {"Content-Type": "application/json"}, b"{}")[0] in (404, 405)
        assert get(f"{url}/api/snapshot", {"Host": "console.evil.example"})[0] == 400  # DNS rebinding


def with_notifications(env: RolloutEnv) -> None:
    path = env.stacks_dir / "Pulumi.local.yaml"
    document = yaml.safe_load(path.read_text())
    document["config"]["streamgate:notifications"] = {"slack": {}, "webhook": {}, "backoffSeconds": 0.2}
    path.write_text(yaml.safe_dump(document))


def stale_code(env: RolloutEnv) -> str:
    """A well-formed TOTP code the gateway refuses: of a step long gone."""
    secret = json.loads((env.lp.platform.paths.secrets / "admin-totp.json").read_text())["secret"]
    return str(pyotp.TOTP(secret, interval=TOTP_PERIOD_SECONDS).at(time.time() - 10 * TOTP_PERIOD_SECONDS))


def test_a_canary_seen_paused_and_promoted_from_the_console(rollout_env: RolloutEnv, tmp_path: Path) -> None:
    rollout_env.write_stack(steps=[30, 100], confirmPromotion=True)
    with_notifications(rollout_env)
    lp = rollout_env.lp
    cli = CliRunner()
    with http_receiver() as slack, http_receiver() as hook:
        env = {
            **rollout_env.env,
            "STREAMGATE_NOTIFICATIONS_SLACK_URL": f"{slack.url}/slack",
            "STREAMGATE_NOTIFICATIONS_WEBHOOK_URL": f"{hook.url}/hook",
            "STREAMGATE_ACTOR": "ci-bot",
        }
        with (
            console(env, "--allow-actions") as url,
            Load(f"{lp.edge}/v1/analytics/realtime", rps=60, max_seconds=150),
            chromium_driver(tmp_path / "chromium") as driver,
        ):
            start = [
                "rollout",
                "canary",
                "--stack",
                "local",
                "--version",
                "0.2.0",
                "--reason",
                "release 0.2.0",
            ]
            canary = subprocess.Popen(
                [*STREAMGATE, *start, "--yes"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for("the canary's state", lambda: (rollout_env.state() or {}).get("phase") not in (None,))
            watch = subprocess.Popen(
                [*STREAMGATE, "rollout", "status", "--stack", "local", "--watch", "--json", "--every", "0.5"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            wait_for(
                "the gate at 30%",
                lambda: (rollout_env.state() or {}).get("phase") == "awaiting-promotion",
                90,
            )
            paused = cli.invoke(
                rollout_app, ["pause", "--stack", "local", "--actor", "alice", "--reason", "checking p99"]
            )
            assert paused.exit_code == 0, paused.output
            am = lp.layout.alertmanager_url
            alert = [{"labels": {"alertname": ALERT, "severity": "page", "region": REGION},
                      "annotations": {"summary": "canary analysis failing"}}]  # fmt: skip
            assert (
                get(f"{am}/api/v2/alerts", {"Content-Type": "application/json"}, json.dumps(alert).encode())[
                    0
                ]
                == 200
            )

            driver.set_window_size(1400, 1400)
            driver.get(url)
            row = f'#regions tr[data-region="{REGION}"]'
            wait_for(
                "the paused canary in the page",
                lambda: (
                    "paused" in driver.find_element("css selector", row).text
                    and "blue 70% · green 30%" in driver.find_element("css selector", row).text
                    and driver.find_elements("css selector", f'#alerts tr.alert[data-alert="{ALERT}"]')
                ),
            )
            driver.save_screenshot(str(tmp_path / "paused.png"))
            # Screenshots, checked by their pixels: the weights bar splits 70/30 blue/green; local-a takes all
            # traffic and local-b none; the alert row is red.
            bar = driver.find_element("css selector", f"{row} td.weights .bar").screenshot_as_png
            assert split(bar) == pytest.approx(0.70, abs=0.05)
            traffic_a = driver.find_element("css selector", f"{row} td.traffic .bar").screenshot_as_png
            traffic_b = driver.find_element(
                "css selector", '#regions tr[data-region="local-b"] td.traffic .bar'
            )
            assert share(traffic_a, TRAFFIC)[0] > 0.9 and share(traffic_b.screenshot_as_png, TRAFFIC)[0] == 0
            firing = driver.find_element(
                "css selector", f'#alerts tr.alert[data-alert="{ALERT}"]'
            ).screenshot_as_png
            [background] = share(firing, ALERT_BACKGROUND, tolerance=12)
            [border] = share(left_edge(firing), ALERT_BORDER, tolerance=12)
            assert border > 0.8 and background > 0.6, (border, background)

            resumed = cli.invoke(rollout_app, ["resume", "--stack", "local", "--actor", "alice"])
            assert resumed.exit_code == 0, resumed.output
            wait_for(
                "the gate again", lambda: (rollout_env.state() or {}).get("phase") == "awaiting-promotion"
            )
            card = f'#rollouts .rollout[data-region="{REGION}"]'
            wait_for(
                "the promote button",
                lambda: driver.find_element("css selector", f'{card} button[data-action="promote"]'),
            )
            driver.find_element("css selector", f'{card} button[data-action="promote"]').click()
            driver.find_element("id", "step-up-token").send_keys(lp.admin.token())
            driver.find_element("id", "step-up-code").send_keys(stale_code(rollout_env))
            driver.find_element("id", "step-up-reason").send_keys("dashboards clean")
            driver.find_element("id", "step-up-submit").click()
            refused = wait_for("the refusal", lambda: driver.find_element("id", "step-up-error").text)
            assert "refused" in refused and "invalid or already used MFA code" in refused
            assert (rollout_env.state() or {}).get("phase") == "awaiting-promotion"  # nothing happened
            driver.find_element("id", "step-up-code").send_keys(lp.admin.next_code())
            driver.find_element("id", "step-up-submit").click()
            wait_for(
                "the promotion",
                lambda: driver.execute_script("return document.body.dataset.lastAction") == "ok",
            )
            wait_for(
                "the promoted canary in the page",
                lambda: (
                    "succeeded" in driver.find_element("css selector", row).text
                    and "blue 0% · green 100%" in driver.find_element("css selector", row).text
                ),
            )
            driver.save_screenshot(str(tmp_path / "promoted.png"))
            bar = driver.find_element("css selector", f"{row} td.weights .bar").screenshot_as_png
            assert split(bar) == pytest.approx(0.0, abs=0.02)

            _, err = canary.communicate(timeout=60)
            assert canary.returncode == 0, err
            lines, _ = watch.communicate(timeout=30)  # it ends by itself with the rollout
            assert watch.returncode == 0
        # The watch view, one JSON line per change, from the canary's first step to its end.
        seen = [json.loads(line) for line in lines.splitlines()]
        assert [s["region"] for s in seen] == [REGION] * len(seen)
        weights = [s["live_weights"] for s in seen]
        assert {"blue": 70, "green": 30} in weights and weights[-1] == {"blue": 0, "green": 100}
        assert seen[-1]["rollout"]["phase"] == "succeeded"
        assert "paused" in [s["rollout"]["phase"] for s in seen]

    # Notifications, in order, on both channels.
    events = [(b["event"], b["data"]["weight"]) for _, b in hook.received]
    assert events == [
        ("rollout.started", 0),
        ("rollout.step", 30),
        ("rollout.step", 100),
        ("rollout.promoted", 100),
    ]
    assert [b["sequence"] for _, b in hook.received] == [1, 2, 3, 4]
    assert {b["actor"] for _, b in hook.received} == {"ci-bot"}
    assert len(slack.received) == 4 and "promoted" in slack.received[-1][1]["text"]

    # The audit trail names everyone, and the rollout's own history the requests.
    result = subprocess.run(
        [*STREAMGATE, "history", "--stack", "local", "--json"], env=env, capture_output=True, text=True
    )
    trail = [
        (e["command"], e["actor"], e["via"], e["outcome"], e["reason"])
        for e in reversed(json.loads(result.stdout))
    ]
    assert trail[-4:] == [
        ("rollout canary", "ci-bot", "cli", "ok", "release 0.2.0"),
        ("rollout pause", "alice", "cli", "ok", "checking p99"),
        ("rollout resume", "alice", "cli", "ok", ""),
        ("rollout promote", "local-admin", "console", "ok", "dashboards clean"),
    ], trail
    state = rollout_env.state()
    assert state is not None
    requests = [r["reason"] for r in state["history"] if r["event"] == "request"]
    assert requests == [
        "pause by alice: checking p99",
        "resume by alice",
        "promote by local-admin: dashboards clean",
    ]
    table = subprocess.run(
        [*STREAMGATE, "history", "--stack", "local"], env=env, capture_output=True, text=True
    )
    assert "rollout promote (console)" in table.stdout and "local-admin" in table.stdout
