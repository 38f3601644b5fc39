"""Offline plans of the shipped stacks, shared with tests/infra (each plan takes seconds under mocks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from infra.plan import Plan
from tests.infra.conftest import _plan


@pytest.fixture(scope="session")
def plan_of() -> Callable[[str], Plan]:
    return _plan
