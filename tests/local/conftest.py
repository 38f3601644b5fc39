"""One local platform per test session (bringing it up takes ~20 s): every test here shares it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.local_platform import RunningPlatform, local_platform


@pytest.fixture(scope="session")
def platform_session() -> Iterator[RunningPlatform]:
    with local_platform() as lp:
        yield lp


@pytest.fixture
def lp(platform_session: RunningPlatform) -> RunningPlatform:
    """The session's platform, brought back up if a test (the `down` test) stopped it."""
    if not platform_session.platform.running():
        platform_session.platform.up()
    return platform_session
