"""The small-run switch: one environment variable that shrinks notebooks to a quick test.

pytest sets ``FASHION_GAN_SMALL_RUN=1`` (see conftest.py) so nbval runs every cell on real
data in seconds; a learner never sets it and gets the full-size run.
"""

from __future__ import annotations

import os
from typing import TypeVar

SMALL_RUN_ENV = "FASHION_GAN_SMALL_RUN"
T = TypeVar("T")


def is_small_run() -> bool:
    """True when the test switch is on (any value other than empty, 0, false or no)."""
    return os.environ.get(SMALL_RUN_ENV, "").strip().lower() not in ("", "0", "false", "no")


def full_or_small(full: T, small: T) -> T:
    """``full`` for a learner's run, ``small`` under the test switch."""
    return small if is_small_run() else full


def small_run_overrides() -> dict:
    """Config fields that shrink a notebook's training run to seconds under the test switch."""
    if not is_small_run():
        return {}
    return {"num_epochs": 1, "subset": 0.02, "log_every": 2}
