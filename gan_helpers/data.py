"""Fashion-MNIST on disk: find the files, parse them, check them, and scale the pixels.

The images are tiny (60,000 x 28 x 28 bytes = 47 MB), so we load a whole split into one
uint8 tensor instead of going through a per-image ``Dataset``/``DataLoader`` pipeline.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gan_helpers import idx
from gan_helpers.paths import DATA_DIR

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip
FOLDER = "FashionMNIST"  # torchvision's layout: <root>/FashionMNIST/raw/
SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian's dataset-fashion-mnist
SPLIT_SIZES = {True: 60_000, False: 10_000}
FILE_STEMS = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataNotFoundError(FileNotFoundError):
    """Raised when Fashion-MNIST is in none of the places we look and cannot be downloaded."""


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
    raw_dir = Path(root) / FOLDER / "raw"
    stems = FILE_STEMS[train]
    if not all(_find(raw_dir, stem) for stem in stems):
        _fetch(raw_dir, system_dir, download, train)
    images = idx.read_idx(_find(raw_dir, stems[0]))
    labels = idx.read_idx(_find(raw_dir, stems[1]))
    return _check(images, labels, raw_dir, train)


def _find(raw_dir: Path, stem: str) -> Path | None:
    """The plain or gzipped file for ``stem`` in ``raw_dir``, plain first; None if neither."""
    for name in (stem, stem + ".gz"):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def _fetch(raw_dir: Path, system_dir: str | Path | None, download: bool, train: bool) -> None:
    """Fill ``raw_dir`` from the system directory, else from torchvision's download."""
    if system_dir is not None and copy_from_system(Path(system_dir), raw_dir):
        return
    problem = "download disabled"
    if download:
        try:
            _download(raw_dir.parent.parent, train)
            return
        except Exception as error:  # any network or HTTP failure ends up in the message below
            problem = f"download failed: {error}"
    places = f"{raw_dir}" + (f" or {system_dir}" if system_dir is not None else "")
    raise DataNotFoundError(
        f"Fashion-MNIST was not found in {places}, and {problem}.\n"
        "Get it in one of three ways:\n"
        f"  1. copy the four *-ubyte.gz files into {raw_dir}/ (from any Fashion-MNIST mirror);\n"
        "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist "
        f"(installs them in {SYSTEM_DIR});\n"
        f"  3. go online and run this again: torchvision downloads them into {raw_dir}/."
    )


def copy_from_system(system_dir: Path, raw_dir: Path) -> bool:
    """Decompress the system copy of the dataset into ``raw_dir``; False if it is not there."""
    stems = FILE_STEMS[True] + FILE_STEMS[False]
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


def _download(root: Path, train: bool) -> None:
    """torchvision's download into ``<root>/FashionMNIST/raw`` (needs the internet)."""
    from torchvision.datasets import FashionMNIST

    FashionMNIST(root=str(root), train=train, download=True)


def _check(images: np.ndarray, labels: np.ndarray, raw_dir: Path, train: bool) -> ImageData:
    """Verify shapes, sizes and labels, so a bad copy fails here and not mid-training."""
    expected = SPLIT_SIZES[train]
    split = "training" if train else "test"
    fix = f"Delete {raw_dir} and run again to fetch a fresh copy."
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{split} images have shape {images.shape}, expected (N, 28, 28). {fix}")
    if len(images) != expected or len(labels) != expected:
        raise ValueError(
            f"{split} split has {len(images)} images and {len(labels)} labels, "
            f"expected {expected} of each. {fix}"
        )
    if labels.min() < 0 or labels.max() >= len(CLASS_NAMES):
        raise ValueError(f"{split} labels range over {labels.min()}..{labels.max()}, not 0..9. {fix}")
    counts = np.bincount(labels, minlength=len(CLASS_NAMES))
    if not (counts == expected // len(CLASS_NAMES)).all():
        raise ValueError(f"{split} split has class counts {counts.tolist()}, not balanced. {fix}")
    return ImageData(
        images=torch.from_numpy(images.copy()).unsqueeze(1),
        labels=torch.from_numpy(labels.astype(np.int64)),
        class_names=CLASS_NAMES,
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
