"""Offline plans are built once per stack per test session (each takes a few seconds under mocks)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import pytest

from infra.config import load_stack
from infra.plan import Plan, run_plan


@cache
def _plan(stack: str) -> Plan:
    return run_plan(load_stack(stack))


@pytest.fixture(scope="session")
def plan_of() -> Callable[[str], Plan]:
    return _plan
