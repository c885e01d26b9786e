"""MNIST, KMNIST and EMNIST letters through the same loader, models and command (offline: fake IDX files)."""

from __future__ import annotations

import pytest
import torch

from gan_helpers import data
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.sampling import generate
from gan_helpers.weights import load_generator
from tests.helpers import tiny_spec, write_fake_dataset, write_idx

OTHERS = ["mnist", "kmnist", "emnist-letters"]


@pytest.fixture
def fake_root(tmp_path):
    """A data root with tiny copies of every dataset (3 images per class and split)."""
    for spec in data.DATASETS.values():
        write_fake_dataset(tmp_path / "data" / spec.folder / "raw", spec=spec)
    return tmp_path / "data"


def tiny(name: str) -> data.DatasetSpec:
    """The spec of ``name`` sized for the tiny files: the loader is told what to expect."""
    return tiny_spec(data.get_spec(name))


@pytest.mark.parametrize("name", OTHERS)
def test_each_dataset_loads_with_its_own_classes(fake_root, name):
    spec = data.get_spec(name)
    split = data.load_dataset(tiny(name), fake_root, train=False, system_dir=None, download=False)
    assert split.class_names == spec.class_names
    assert split.images.shape == (3 * len(spec.class_names), 1, 28, 28)
    assert split.labels.tolist() == sorted(list(range(len(spec.class_names))) * 3)  # from 0
    assert split.class_counts()[spec.class_names[-1]] == 3


def test_emnist_letters_are_numbered_from_zero_and_turned_upright(fake_root):
    split = data.load_dataset(tiny("emnist-letters"), fake_root, system_dir=None, download=False)
    assert len(split.class_names) == 26 and split.class_names[0] == "A"
    # the writer puts the class at pixel (0, 0); a marker at file pixel (0, 5) must land at (5, 0)
    raw = fake_root / "EMNIST" / "raw"
    stem = data.get_spec("emnist-letters").file_stems[True][0]
    images = data.read_idx(raw / f"{stem}.gz").copy()
    images[0, 0, 5] = 255
    images[0, 5, 0] = 0
    write_idx(raw / f"{stem}.gz", images)
    split = data.load_dataset(tiny("emnist-letters"), fake_root, system_dir=None, download=False)
    assert split.images[0, 0, 5, 0] == 255 and split.images[0, 0, 0, 5] != 255


def test_unknown_dataset_lists_the_valid_names(tmp_path):
    with pytest.raises(ValueError, match="fashion-mnist, mnist, kmnist, emnist-letters"):
        data.load_dataset("cifar10", tmp_path)
    with pytest.raises(ValueError, match=r"TrainConfig\.dataset = 'svhn'"):
        TrainConfig(dataset="svhn")


def test_missing_dataset_is_fetched_by_torchvision_with_its_options(tmp_path, monkeypatch):
    calls = []

    def fake_torchvision(spec, root, train):
        calls.append((spec.folder, spec.torchvision_options, train))
        raise OSError("offline")

    monkeypatch.setattr(data, "torchvision_download", fake_torchvision)
    with pytest.raises(data.DataNotFoundError) as error:
        data.load_dataset("emnist-letters", tmp_path, download=True)
    assert calls == [("EMNIST", {"split": "letters"}, True)]
    assert "EMNIST letters was not found" in str(error.value) and "apt-get" not in str(error.value)


def test_mnist_may_be_unbalanced_but_fashion_mnist_may_not(fake_root):
    for folder in ("MNIST", "FashionMNIST"):
        raw = fake_root / folder / "raw"
        labels = data.read_idx(raw / "t10k-labels-idx1-ubyte.gz").copy()
        labels[0] = 1  # one more "1", one fewer "0"
        write_idx(raw / "t10k-labels-idx1-ubyte.gz", labels)
    mnist = data.load_dataset(tiny("mnist"), fake_root, train=False, system_dir=None, download=False)
    assert len(mnist) == 30
    with pytest.raises(ValueError, match="class counts"):
        data.load_dataset(tiny("fashion-mnist"), fake_root, train=False, system_dir=None, download=False)


def test_train_command_makes_a_26_class_conditional_gan(fake_root, tmp_path, monkeypatch):
    monkeypatch.setitem(data.DATASETS, "emnist-letters", tiny("emnist-letters"))  # the tiny files' sizes
    code = main(["train", "cgan", "--dataset", "emnist-letters", "--data-root", str(fake_root),
                 "--output-dir", str(tmp_path / "runs"), "--epochs", "1", "--batch-size", "26",
                 "--device", "cpu", "--quiet"])  # fmt: skip
    assert code == 0
    generator = load_generator(tmp_path / "runs" / "cgan" / "checkpoint.pt", kind="cgan")
    assert generator.num_classes == 26
    images = generate(generator, 52, seed=0)  # two of each letter
    assert images.shape == (52, 1, 28, 28)
    with pytest.raises(ValueError, match=r"labels in 0\.\.25"):
        generate(generator, 2, labels=torch.tensor([0, 26]))
