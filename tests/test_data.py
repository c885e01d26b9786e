"""The loader: where files come from, how they are parsed, and how bad files are reported."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

from gan_helpers import data
from tests.helpers import tiny_spec, write_fake_dataset, write_idx

TINY = tiny_spec()  # 30 images a split


def test_idx_round_trip(tmp_path):
    array = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    for name in ("plain-idx3-ubyte", "zipped-idx3-ubyte.gz"):
        write_idx(tmp_path / name, array)
        np.testing.assert_array_equal(data.read_idx(tmp_path / name), array)


def test_loads_from_system_dir_into_root(tmp_path, system_copy):
    root = tmp_path / "data"
    split = data.load_dataset(TINY, root, train=True, system_dir=system_copy, download=False)
    assert split.images.shape == (30, 1, 28, 28) and split.images.dtype == torch.uint8
    assert split.labels.dtype == torch.int64
    assert split.class_counts() == dict.fromkeys(TINY.class_names, 3)
    assert (split.images[:, 0, 0, 0] == split.labels).all()  # images stay with their labels
    raw = root / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(
        TINY.file_stems[True] + TINY.file_stems[False]
    )  # decompressed, torchvision's layout, no partial files left


def test_root_copy_is_used_before_system_dir(tmp_path):
    raw = write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw", gz=False)
    split = data.load_dataset(TINY, tmp_path / "data", train=False, system_dir=None, download=False)
    assert len(split) == 30 and not split.train
    assert len(list(raw.iterdir())) == 4


def test_deleted_root_is_recovered_from_system_dir(tmp_path, system_copy):
    root = tmp_path / "data"
    first = data.load_dataset(TINY, root, system_dir=system_copy, download=False)
    for path in (root / "FashionMNIST" / "raw").iterdir():
        path.unlink()
    again = data.load_dataset(TINY, root, system_dir=system_copy, download=False)
    assert torch.equal(first.images, again.images)


def test_missing_everywhere_names_the_three_ways(tmp_path):
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_dataset(TINY, tmp_path / "data", system_dir=tmp_path / "none", download=False)
    message = str(error.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "torchvision downloads" in message
    assert str(tmp_path / "data" / "FashionMNIST" / "raw") in message


def test_failed_download_is_reported(tmp_path, monkeypatch):
    def offline(spec, root, train):
        raise OSError("Name or service not known")

    monkeypatch.setattr(data, "torchvision_download", offline)
    with pytest.raises(data.DataNotFoundError, match="download failed: Name or service"):
        data.load_dataset(TINY, tmp_path / "data", system_dir=None, download=True)


def test_truncated_file_is_named(tmp_path):
    raw = write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw", gz=False)
    images = raw / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-100])
    with pytest.raises(ValueError, match="train-images-idx3-ubyte is truncated"):
        data.load_dataset(TINY, tmp_path / "data", system_dir=None, download=False)


def test_corrupt_gzip_is_named(tmp_path):
    raw = write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw", gz=True)
    labels = raw / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:20])  # cut inside the compressed stream
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte\.gz is not a readable gzip"):
        data.load_dataset(TINY, tmp_path / "data", system_dir=None, download=False)


def test_wrong_magic_number(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 0x0D, 3]) + bytes(100))  # 0x0D: float data, not ubyte
    with pytest.raises(ValueError, match="magic number 3331"):
        data.read_idx(path)


def test_wrong_image_count_is_reported(tmp_path):
    write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw")
    with pytest.raises(ValueError, match="30 images and 30 labels, expected 60000"):
        data.load_fashion_mnist(tmp_path / "data", system_dir=None, download=False)


def test_unbalanced_labels_are_reported(tmp_path):
    raw = write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw", gz=False)
    write_idx(raw / "train-labels-idx1-ubyte", np.zeros(30, dtype=np.uint8))
    with pytest.raises(ValueError, match="class counts"):
        data.load_dataset(TINY, tmp_path / "data", system_dir=None, download=False)


def test_scale_round_trip_and_range():
    pixels = torch.arange(256, dtype=torch.uint8).view(1, 1, 16, 16)
    scaled = data.scale(pixels)
    assert scaled.min() == -1.0 and scaled.max() == 1.0 and scaled.dtype == torch.float32
    assert torch.equal(data.unscale(scaled), pixels)
    assert data.unscale(torch.tensor([-3.0, 3.0])).tolist() == [0, 255]


def test_subset_by_share_and_count(tmp_path, system_copy):
    full = data.load_dataset(TINY, tmp_path / "d", system_dir=system_copy, download=False)
    half = data.take_subset(full, 0.5, seed=1)
    assert len(half) == 15
    assert torch.equal(half.images, data.take_subset(full, 0.5, seed=1).images)  # seeded
    assert len(data.take_subset(full, 7)) == 7
    for bad in (0.0, 1.5, 0, 31):
        with pytest.raises(ValueError, match="subset"):
            data.take_subset(full, bad)


def test_real_fashion_mnist_gz_matches_known_facts():
    """The Debian files, when present, parse to the original sizes (skipped if not installed)."""
    if not (data.FASHION.system_dir / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("dataset-fashion-mnist is not installed (CI installs it)")
    labels = data.read_idx(data.FASHION.system_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10_000,) and np.bincount(labels).tolist() == [1000] * 10
    with gzip.open(data.FASHION.system_dir / "t10k-images-idx3-ubyte.gz") as file:
        assert int.from_bytes(file.read(4), "big") == 2051
