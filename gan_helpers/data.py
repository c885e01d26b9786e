"""The datasets on disk: find the files, parse them, check them, and scale the pixels.

Fashion-MNIST is the course's dataset; MNIST, KMNIST and EMNIST letters share its format and
load the same way (``load_dataset(name)``). The images are tiny (60,000 x 28 x 28 bytes = 47 MB),
so a whole split goes into one uint8 tensor instead of a per-image ``Dataset``/``DataLoader``.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_helpers import datasets, idx
from gan_helpers.datasets import DATASETS, DatasetSpec, get_spec
from gan_helpers.paths import DATA_DIR

FASHION = DATASETS["fashion-mnist"]
CLASS_NAMES = FASHION.class_names
SYSTEM_DIR = FASHION.system_dir  # Debian's dataset-fashion-mnist
SPLIT_SIZES = FASHION.split_sizes
FILE_STEMS = FASHION.file_stems


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is in none of the places we look and cannot be downloaded."""


@dataclass(frozen=True)
class ImageData:
    """One split: ``images`` uint8 [N, 1, 28, 28], ``labels`` int64 [N], and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    class_names: tuple[str, ...]
    train: bool

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        """Number of images of each class, by name."""
        counts = torch.bincount(self.labels, minlength=len(self.class_names)).tolist()
        return dict(zip(self.class_names, counts, strict=True))


def load_fashion_mnist(
    root: str | Path = DATA_DIR,
    train: bool = True,
    *,
    system_dir: str | Path | None = SYSTEM_DIR,
    download: bool = True,
) -> ImageData:
    """Load a Fashion-MNIST split, fetching the files if ``<root>/FashionMNIST/raw`` lacks them.

    ``root`` defaults to the repository's data/ folder. Looks in this order:
    ``<root>/FashionMNIST/raw/`` (torchvision's layout); ``system_dir``
    (Debian's ``dataset-fashion-mnist``), copied into ``root``; torchvision's download.
    """
    return load_dataset("fashion-mnist", root, train, system_dir=system_dir, download=download)


def load_dataset(
    name: str = "fashion-mnist",
    root: str | Path = DATA_DIR,
    train: bool = True,
    *,
    system_dir: str | Path | None = "auto",
    download: bool = True,
) -> ImageData:
    """Load a split of ``name`` (see ``datasets.DATASETS``) from ``<root>/<Folder>/raw``.

    Missing files come from ``system_dir`` ("auto": the dataset's Debian folder, if it has
    one; None: no system copy), else from torchvision's download.
    """
    spec = get_spec(name)
    raw_dir = Path(root) / spec.folder / "raw"
    stems = spec.file_stems[train]
    if not all(_find(raw_dir, stem) for stem in stems):
        _fetch(spec, raw_dir, spec.system_dir if system_dir == "auto" else system_dir, download, train)
    images = idx.read_idx(_find(raw_dir, stems[0]))
    labels = idx.read_idx(_find(raw_dir, stems[1]))
    return _check(spec, images, labels, raw_dir, train)


def _find(raw_dir: Path, stem: str) -> Path | None:
    """The plain or gzipped file for ``stem`` in ``raw_dir``, plain first; None if neither."""
    for name in (stem, stem + ".gz"):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def _fetch(spec: DatasetSpec, raw_dir: Path, system_dir, download: bool, train: bool) -> None:
    """Fill ``raw_dir`` from the system directory, else from torchvision's download."""
    if system_dir is not None and copy_from_system(Path(system_dir), raw_dir, spec):
        return
    problem = "download disabled"
    if download:
        try:
            datasets.torchvision_download(spec, raw_dir.parent.parent, train)
            return
        except Exception as error:  # any network or HTTP failure ends up in the message below
            problem = f"download failed: {error}"
    places = f"{raw_dir}" + (f" or {system_dir}" if system_dir is not None else "")
    package = spec.debian_package
    debian = f"  - on Debian/Ubuntu: sudo apt-get install {package};\n" if package else ""
    raise DataNotFoundError(
        f"{spec.title} was not found in {places}, and {problem}.\nGet it in one of these ways:\n"
        f"  - copy the four *-ubyte(.gz) files into {raw_dir}/ (from any {spec.title} mirror);\n"
        f"{debian}  - go online and run this again: torchvision downloads them into {raw_dir}/."
    )


def copy_from_system(system_dir: Path, raw_dir: Path, spec: DatasetSpec = FASHION) -> bool:
    """Decompress the system copy of the dataset into ``raw_dir``; False if it is not there."""
    stems = spec.file_stems[True] + spec.file_stems[False]
    sources = [_find(system_dir, stem) for stem in stems]
    if not all(sources):
        return False
    raw_dir.mkdir(parents=True, exist_ok=True)
    for stem, source in zip(stems, sources, strict=True):
        partial = raw_dir / (stem + ".partial")
        opener = gzip.open if source.suffix == ".gz" else open
        with opener(source, "rb") as src, open(partial, "wb") as dst:
            shutil.copyfileobj(src, dst)
        partial.replace(raw_dir / stem)  # atomic: a half-copied file never has the real name
    return True


def _check(spec: DatasetSpec, images: np.ndarray, labels: np.ndarray, raw_dir: Path, train: bool):
    """Verify shapes, sizes and labels, so a bad copy fails here and not mid-training."""
    expected = spec.split_sizes[train]
    split = "training" if train else "test"
    classes = len(spec.class_names)
    fix = f"Delete {raw_dir} and run again to fetch a fresh copy."
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{split} images have shape {images.shape}, expected (N, 28, 28). {fix}")
    if len(images) != expected or len(labels) != expected:
        raise ValueError(
            f"{split} split has {len(images)} images and {len(labels)} labels, "
            f"expected {expected} of each. {fix}"
        )
    labels = labels.astype(np.int64) - spec.first_label
    if labels.min() < 0 or labels.max() >= classes:
        first, last = spec.first_label, spec.first_label + classes - 1
        raise ValueError(f"{split} labels range outside {first}..{last}. {fix}")
    counts = np.bincount(labels, minlength=classes)
    balanced = (counts == expected // classes).all()
    if (spec.balanced and not balanced) or not counts.all():
        raise ValueError(f"{split} split has class counts {counts.tolist()}, not as published. {fix}")
    if spec.transposed:  # EMNIST stores each image transposed
        images = images.transpose(0, 2, 1)
    return ImageData(
        images=torch.from_numpy(np.array(images)).unsqueeze(1),  # a C-contiguous, writable copy
        labels=torch.from_numpy(labels),
        class_names=spec.class_names,
        train=train,
    )


def scale(images: torch.Tensor) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1], matching the generator's Tanh output."""
    return images.float().div_(127.5).sub_(1.0)


def unscale(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 pixels 0..255 (values outside are clipped)."""
    return images.add(1.0).mul_(127.5).round_().clamp_(0, 255).to(torch.uint8)


def take_subset(data: ImageData, size: int | float, seed: int = 0) -> ImageData:
    """A random subset: ``size`` images if an int, that share of them if a float in (0, 1]."""
    total = len(data)
    if isinstance(size, float):
        if not 0.0 < size <= 1.0:
            raise ValueError(f"subset share must be in (0, 1], got {size}")
        size = max(1, round(size * total))
    if not 1 <= size <= total:
        raise ValueError(f"subset size must be between 1 and {total}, got {size}")
    generator = torch.Generator().manual_seed(seed)
    keep = torch.randperm(total, generator=generator)[:size].sort().values
    return ImageData(data.images[keep], data.labels[keep], data.class_names, data.train)
