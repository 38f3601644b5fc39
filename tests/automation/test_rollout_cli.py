"""Command-line parsing of rollout steps (the commands themselves run in test_rollout_local.py)."""

from __future__ import annotations

import pytest

from infra.automation.errors import InvalidInputError
from infra.automation.rollout.cli import parse_steps

DEFAULT = [5, 10, 25, 50, 100]


def test_explicit_steps_and_default() -> None:
    assert parse_steps("5,10,100", None, None, DEFAULT) == [5, 10, 100]
    assert parse_steps(None, None, None, DEFAULT) == DEFAULT


def test_step_weight_and_max_weight_as_flagger_does() -> None:
    assert parse_steps(None, 10, 50, DEFAULT) == [10, 20, 30, 40, 50, 100]
    assert parse_steps(None, 25, 100, DEFAULT) == [25, 50, 75, 100]
    assert parse_steps(None, 30, None, DEFAULT) == [30, 100]  # max weight defaults to 50


@pytest.mark.parametrize(
    ("steps", "weight", "top"),
    [
        ("10,5,100", None, None),  # not increasing
        ("10,50", None, None),  # never reaches 100
        ("0,100", None, None),  # out of range
        ("ten", None, None),
        ("10,100", 10, None),  # both forms
        (None, 60, 50),  # step above max
        (None, None, 50),  # max without step
    ],
)
def test_bad_steps_are_bad_input(steps: str | None, weight: int | None, top: int | None) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_steps(steps, weight, top, DEFAULT)
    assert info.value.exit_code == 2
