"""Shared fixtures: a small synthetic Fashion-MNIST in IDX files, written by the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gan_helpers import data, datasets, idx


def write_fake_dataset(
    folder: Path, per_class: int = 3, gz: bool = True, spec: datasets.DatasetSpec = data.FASHION
) -> Path:
    """Write the four IDX files of a tiny balanced dataset shaped like ``spec``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    classes = len(spec.class_names)
    for train in (True, False):
        count = per_class * classes
        labels = np.repeat(np.arange(classes, dtype=np.uint8), per_class)
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels  # lets a test tell images apart by their label
        labels = labels + spec.first_label
        image_stem, label_stem = spec.file_stems[train]
        suffix = ".gz" if gz else ""
        idx.write_idx(folder / (image_stem + suffix), images)
        idx.write_idx(folder / (label_stem + suffix), labels)
    return folder


@pytest.fixture
def small_sizes(monkeypatch):
    """Let the loader accept the tiny synthetic splits (30 images each)."""
    monkeypatch.setitem(data.SPLIT_SIZES, True, 30)
    monkeypatch.setitem(data.SPLIT_SIZES, False, 30)


@pytest.fixture
def system_copy(tmp_path, small_sizes) -> Path:
    """A fake system directory holding the dataset as Debian installs it (.gz files)."""
    return write_fake_dataset(tmp_path / "system")
