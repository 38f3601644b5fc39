"""Every admin write needs MFA step-up: found by walking the app's routes, not by listing them, so a route
added later is checked too."""

from __future__ import annotations

import re

from starlette.routing import Route

from runtime.service.tokens import Scope
from tests.service.conftest import Running

SAFE = {"GET", "HEAD", "OPTIONS"}


def _concrete(path: str) -> str:
    """A URL for a route template: `{id}` -> `x`, `{n:int}` -> `1`."""
    return re.sub(r"\{(\w+)(?::int)?\}", lambda m: "1" if ":int" in m.group(0) else "x", path)


async def test_every_admin_write_needs_step_up(gw: Running) -> None:
    writes = [
        (route.path, method)
        for route in gw.app.routes
        if isinstance(route, Route)
        for method in sorted(route.methods or ())
        if method not in SAFE
    ]
    admin_writes = []
    for path, method in writes:
        url = _concrete(path)
        viewer = await gw.client.request(method, url, headers=gw.auth(Scope.VIEWER), content=b"{}")
        if viewer.status_code != 403:
            continue  # a viewer may do this (e.g. send playback events): not an admin write
        admin_writes.append((path, method))
        plain = await gw.client.request(method, url, headers=gw.auth(), content=b"{}")
        assert plain.status_code == 401, (method, path, plain.status_code, plain.text)
        assert "insufficient_user_authentication" in plain.headers["www-authenticate"], (method, path)
    assert {
        ("/v1/admin/faults", "PUT"),  # can fail all traffic
        ("/v1/admin/profile", "POST"),
        ("/v1/auth/step-up", "POST"),  # the exchange itself: the TOTP code is the step-up
        ("/v1/content/{id}/manifest", "PUT"),
        ("/v1/content/{id}/segments/{n:int}", "PUT"),
    } <= set(admin_writes)
    assert (await gw.client.get("/v1/admin/faults", headers=gw.auth())).json()["active"] is False
