"""Shared fixtures: a folder with a tiny synthetic Fashion-MNIST (see tests/helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import write_fake_dataset


@pytest.fixture
def system_copy(tmp_path) -> Path:
    """A fake system directory holding the tiny dataset as Debian installs it (.gz files)."""
    return write_fake_dataset(tmp_path / "system")
