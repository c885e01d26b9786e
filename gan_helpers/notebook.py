"""What every notebook needs before anything else: the setup cell that makes it run on Colab as
well as in a checkout, and the small-run switch that lets the tests run each chapter in seconds."""

from __future__ import annotations

import os
from typing import TypeVar

from gan_helpers.config import TrainConfig

T = TypeVar("T")


SMALL_RUN_ENV = "FASHION_GAN_SMALL_RUN"


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
    return {"num_epochs": 1, "subset": 0.02, "log_every": 2, "quality_samples": 500}


def small_run(config: TrainConfig) -> TrainConfig:
    """``config`` as it is for a learner; under the test switch, shrunk to seconds (a folder of
    one's own images is kept whole: its chapter makes it small, and 2% of it may not fill a batch)."""
    overrides = small_run_overrides()
    if config.data_dir:
        overrides.pop("subset", None)
    return config.replace(**overrides)


# REPOSITORY is the one place the project's URL lives: `tools/refresh_notebooks.py --setup` writes
# setup_cell() into each notebook, and the tests check that every notebook and the README agree.
REPOSITORY = "https://github.com/fashion-gan/fashion-gan"
SETUP_MARKER = "# Setup: Colab or a checkout"

_SETUP_TEMPLATE = """{marker}. In a checkout, imports the `gan_helpers` next to this notebook;
# on Colab, installs that package alone (Colab's own torch, widgets and the rest stay as they are).
import importlib.util
import pathlib
import subprocess
import sys

checkout = str(pathlib.Path("..").resolve())
if pathlib.Path(checkout, "gan_helpers").is_dir():  # this checkout's code, even if another copy is installed
    if checkout in sys.path:
        sys.path.remove(checkout)
    sys.path.insert(0, checkout)
elif importlib.util.find_spec("gan_helpers") is None:  # Colab: torch and the rest are there already
    url = "git+{repository}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", url], check=True)
    importlib.invalidate_caches()
import gan_helpers

print("gan_helpers imported from", pathlib.Path(gan_helpers.__file__).parent)"""


def setup_cell(repository: str = REPOSITORY) -> str:
    """The source of the setup cell for ``repository``."""
    return _SETUP_TEMPLATE.format(marker=SETUP_MARKER, repository=repository)
