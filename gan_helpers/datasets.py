"""The MNIST-format datasets the project can train on, and what distinguishes them.

All four are 28x28 grayscale in the original IDX files, in torchvision's folder layout
(``<root>/<folder>/raw/``), so one loader serves them; only names, sizes and quirks differ.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path

MNIST_STEMS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset's files live and what a correct copy looks like."""

    name: str
    title: str
    folder: str  # torchvision's folder under the data root
    class_names: tuple[str, ...]
    split_sizes: dict[bool, int]
    file_stems: dict[bool, tuple[str, str]] = field(default_factory=lambda: dict(MNIST_STEMS))
    balanced: bool = True  # every class has the same count in each split
    first_label: int = 0  # EMNIST letters number the classes from 1
    transposed: bool = False  # EMNIST stores the images transposed
    system_dir: Path | None = None  # where a Debian package puts the files
    debian_package: str = ""
    torchvision_options: dict = field(default_factory=dict)


def torchvision_download(spec: DatasetSpec, root: Path, train: bool) -> None:
    """torchvision's download into ``<root>/<folder>/raw`` (needs the internet)."""
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, spec.folder)
    dataset_class(root=str(root), train=train, download=True, **spec.torchvision_options)


DATASETS = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "fashion-mnist", "Fashion-MNIST", "FashionMNIST",
            ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
             "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
            {True: 60_000, False: 10_000},
            system_dir=Path("/usr/share/datasets/fashion-mnist"), debian_package="dataset-fashion-mnist",
        ),
        DatasetSpec("mnist", "MNIST", "MNIST", tuple(string.digits), {True: 60_000, False: 10_000},
                    balanced=False),
        DatasetSpec("kmnist", "Kuzushiji-MNIST", "KMNIST",
                    ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
                    {True: 60_000, False: 10_000}),
        DatasetSpec(
            "emnist-letters", "EMNIST letters", "EMNIST", tuple(string.ascii_uppercase),
            {True: 124_800, False: 20_800},
            file_stems={
                True: ("emnist-letters-train-images-idx3-ubyte", "emnist-letters-train-labels-idx1-ubyte"),
                False: ("emnist-letters-test-images-idx3-ubyte", "emnist-letters-test-labels-idx1-ubyte"),
            },
            first_label=1, transposed=True, torchvision_options={"split": "letters"},
        ),
    )
}  # fmt: skip


def get_spec(name: str) -> DatasetSpec:
    """The spec of dataset ``name``; an unknown name gets an error listing the valid ones."""
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r} is unknown; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]
