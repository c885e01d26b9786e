"""Shared fixtures: a folder with a tiny synthetic Fashion-MNIST (see tests/helpers.py), and the
command line run on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan_helpers import data
from gan_helpers.cli import main
from tests.helpers import tiny_data, tiny_spec, write_fake_dataset


@pytest.fixture
def system_copy(tmp_path) -> Path:
    """A fake system directory holding the tiny dataset as Debian installs it (.gz files)."""
    return write_fake_dataset(tmp_path / "system")


@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    """``cli("train", "mlp", ...)``: the command on the tiny data, quiet; returns (code, stdout, stderr)."""
    root = tmp_path / "data"
    tiny_data(root)
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", tiny_spec())  # the loader expects the tiny sizes

    def run(*args: str) -> tuple[int, str, str]:
        extra = ["--data-root", str(root), "--device", "cpu", "--quiet", "--batch-size", "8"]
        code = main([*args[:2], *extra, *args[2:]] if args[0] == "train" else list(args))  # later wins
        out, err = capsys.readouterr()
        return code, out, err

    return run
