"""Chapter 01: the datasets. Find the IDX files, parse and check them, scale the pixels, serve batches.

Fashion-MNIST is the course's dataset; MNIST, KMNIST and EMNIST letters share its format and
load the same way (``load_dataset(name)``). A split is tiny (60,000 x 28 x 28 bytes = 47 MB),
so it lives in one uint8 tensor instead of a per-image ``Dataset``/``DataLoader``.
"""

from __future__ import annotations

import gzip
import shutil
import string
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gan_helpers.checks import SettingError, integer, number


def project_dir() -> Path:
    """The repository root for a checkout (so notebooks/ and the CLI share data/), else the cwd."""
    candidate = Path(__file__).resolve().parent.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd()


DATA_DIR = project_dir() / "data"
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
FASHION = DATASETS["fashion-mnist"]
CLASS_NAMES = FASHION.class_names


class DataNotFoundError(FileNotFoundError):
    """Raised when a dataset is in none of the places we look and cannot be downloaded."""


def get_spec(dataset: str | DatasetSpec) -> DatasetSpec:
    """The spec of a dataset name; an unknown name gets an error listing the valid ones."""
    if isinstance(dataset, DatasetSpec):
        return dataset
    if dataset not in DATASETS:
        raise ValueError(f"dataset {dataset!r} is unknown; choose one of {', '.join(DATASETS)}")
    return DATASETS[dataset]


# --- IDX files: a 4-byte magic number (0, 0, type 0x08 = unsigned byte, dimensions), sizes, bytes.


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an unsigned-byte IDX file (plain or ``.gz``) into a numpy array of its shape."""
    path = Path(path)
    fix = f"Delete {path.parent} and run again to fetch a fresh copy of the dataset."
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a readable gzip file ({error}). {fix}") from error
    if len(data) < 4:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, no IDX header. {fix}")
    if int.from_bytes(data[:2], "big") != 0 or data[2] != 0x08 or not 1 <= data[3] <= 3:
        raise ValueError(
            f"{path} has magic number {int.from_bytes(data[:4], 'big')}, expected 2049 (labels) or "
            f"2051 (images): it is not an unsigned-byte IDX file. {fix}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated inside its header. {fix}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(
            f"{path} is {state}: {len(data)} bytes, expected {expected} for shape {shape}. {fix}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


# --- Loading a split.


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


def load_fashion_mnist(root: str | Path = DATA_DIR, train: bool = True, **options) -> ImageData:
    """A Fashion-MNIST split: ``load_dataset("fashion-mnist", ...)``."""
    return load_dataset("fashion-mnist", root, train, **options)


def load_dataset(
    dataset: str | DatasetSpec = "fashion-mnist",
    root: str | Path = DATA_DIR,
    train: bool = True,
    *,
    system_dir: str | Path | None = "auto",
    download: bool = True,
) -> ImageData:
    """Load a split from ``<root>/<Folder>/raw`` (torchvision's layout, plain or ``.gz`` files).

    Missing files come from ``system_dir`` ("auto": the dataset's Debian folder, if it has
    one; None: no system copy), else from torchvision's download.
    """
    spec = get_spec(dataset)
    raw_dir = Path(root) / spec.folder / "raw"
    stems = spec.file_stems[train]
    system_dir = spec.system_dir if system_dir == "auto" else system_dir
    source = raw_dir
    if not all(_find(raw_dir, stem) for stem in stems):
        check_data_root("root", root, spec.name)  # before anything is copied or downloaded into it
        source = _fetch(spec, raw_dir, system_dir, download, train)
    images = read_idx(_find(source, stems[0]))
    labels_path = _find(source, stems[1])
    return verify_split(spec, images, read_idx(labels_path), labels_path, train)


OWN_FOLDERS = ("folders", "demo")  # what the project keeps in a data root beside the datasets (chapter 10)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")


def check_data_root(setting: str, root: str | Path, dataset: str) -> None:
    """Refuse a data root that the dataset would be copied or downloaded into while it holds
    other things (a folder of one's own pictures, say): only a new or empty folder, or one that
    holds datasets in torchvision's layout, is written into. Reads nothing when the files are there."""
    root, spec = Path(root), get_spec(dataset)
    if root.is_file():
        rule = f"is a file; give the folder that holds (or will hold) {spec.folder}/raw/"
        raise SettingError(setting, str(root), rule)
    if not root.is_dir() or all(_find(root / spec.folder / "raw", stem) for stem in spec.file_stems[True]):
        return
    ours = {known.folder for known in DATASETS.values()} | set(OWN_FOLDERS)
    foreign = sorted(entry.name for entry in root.iterdir() if entry.name not in ours)
    foreign = [name for name in foreign if not name.startswith(".")]  # .gitkeep, .DS_Store
    if not foreign:
        return
    images = [name for name in foreign if Path(name).suffix.lower() in IMAGE_SUFFIXES]
    shown = images or foreign
    what = f"{len(images)} image files" if images else f"{len(foreign)} files or folders of its own"
    listing = ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
    raise SettingError(
        setting, str(root),
        f"holds {what} ({listing}) and no {spec.title}; a dataset is copied or downloaded only into a "
        f"new or empty folder, or one that holds datasets ({spec.folder}/raw/), so nothing of yours is "
        "mixed with it. To train on your own images, give their folder as data_dir (--data-dir); "
        "keep data_root (--data-root) for the datasets (the default is the project's data/)",
    )  # fmt: skip


def _find(raw_dir: Path, stem: str) -> Path | None:
    """The plain or gzipped file for ``stem`` in ``raw_dir``, plain first; None if neither."""
    for name in (stem, stem + ".gz"):
        if (raw_dir / name).is_file():
            return raw_dir / name
    return None


def torchvision_download(spec: DatasetSpec, root: Path, train: bool) -> None:
    """torchvision's download into ``<root>/<folder>/raw`` (needs the internet)."""
    import torchvision.datasets  # only here: importing torchvision costs a second

    dataset_class = getattr(torchvision.datasets, spec.folder)
    dataset_class(root=str(root), train=train, download=True, **spec.torchvision_options)


def _fetch(spec: DatasetSpec, raw_dir: Path, system_dir, download: bool, train: bool) -> Path:
    """Fill ``raw_dir`` from the system directory, else from torchvision's download.

    Returns the folder to read: ``raw_dir``, or the system directory itself when ``raw_dir``
    cannot be written (a read-only data root).
    """
    if system_dir is not None:
        try:
            if copy_from_system(Path(system_dir), raw_dir, spec):
                return raw_dir
        except OSError:  # the data root is read-only or full: read the system copy in place
            return Path(system_dir)
    problem = "download disabled"
    if download:
        try:
            torchvision_download(spec, raw_dir.parent.parent, train)
            return raw_dir
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


def verify_split(
    spec: DatasetSpec, images: np.ndarray, labels: np.ndarray, labels_path: Path, train: bool
) -> ImageData:
    """A split read from disk, verified (shapes, sizes, labels): a bad copy of the files fails here,
    with the fix, and not mid-training. The files' content, not a setting: no ``checks`` helper."""
    expected = spec.split_sizes[train]
    split = "training" if train else "test"
    classes = len(spec.class_names)
    fix = f"Delete {labels_path.parent} and run again to fetch a fresh copy."
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{split} images have shape {images.shape}, expected (N, 28, 28). {fix}")
    if len(images) != expected or len(labels) != expected:
        raise ValueError(
            f"{split} split has {len(images)} images and {len(labels)} labels, "
            f"expected {expected} of each. {fix}"
        )
    labels = labels.astype(np.int64) - spec.first_label
    outside = (labels < 0) | (labels >= classes)
    if outside.any():
        first, last = spec.first_label, spec.first_label + classes - 1
        index = int(outside.argmax())
        raise ValueError(
            f"{labels_path}: label {labels[index] + spec.first_label} at position {index} is outside "
            f"{first}..{last}. {fix}"
        )
    counts = np.bincount(labels, minlength=classes)
    if (spec.balanced and not (counts == expected // classes).all()) or not counts.all():
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
        size = max(1, round(number("subset", size, 0.0, 1.0) * total))
    size = integer("subset", size, 1, total)
    keep = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:size].sort().values
    return ImageData(data.images[keep], data.labels[keep], data.class_names, data.train)


class BatchIterator:
    """Yields ``(images, labels)`` batches, shuffled anew each epoch, each image once per epoch.

    The whole split is scaled once and kept on ``device``; a batch is one index into it (no
    per-image Python work, no host-to-device copy per step). The order of epoch ``e`` depends
    only on ``(seed, e)``, so a resumed run sees the same batches as an uninterrupted one.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        batch_size = integer("batch_size", batch_size, 1, len(data))
        self.device = torch.device(device)
        self.images = scale(data.images).to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed
        self.epoch = 0

    def __len__(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of image indices used in ``epoch`` (identity without shuffle)."""
        count = len(self.labels)
        if not self.shuffle:
            return torch.arange(count, device=self.device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(count, generator=generator).to(self.device)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch``, from batch number ``start`` on (to resume mid-epoch)."""
        order = self.order(epoch)
        for first in range(start * self.batch_size, len(self) * self.batch_size, self.batch_size):
            index = order[first : first + self.batch_size]
            yield self.gather(index), self.labels[index]

    def gather(self, index: torch.Tensor) -> torch.Tensor:
        """The images at ``index``. On the CPU NumPy copies them on one thread: torch splits so
        small a copy over its threads and then waits for the slowest, several times slower
        whenever another program keeps a core busy."""
        if self.device.type != "cpu":
            return self.images[index]
        return torch.from_numpy(self.images.numpy().take(index.numpy(), axis=0))

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch; each new ``for`` loop over the iterator is the next epoch."""
        self.epoch += 1
        return self.batches(self.epoch - 1)


def scaled_batches(images: torch.Tensor, device, batch_size: int | None = None) -> Iterator[torch.Tensor]:
    """``images`` in batches on ``device``, as the networks take them: uint8 pixels scaled to [-1, 1].

    Without ``batch_size``, a batch a measuring pass runs fastest with: on a CPU, 100 images stay
    in the cache and pass about twice as fast as 1000 (the same numbers); a GPU wants more.
    """
    was_uint8 = images.dtype == torch.uint8
    batch_size = batch_size or (100 if torch.device(device).type == "cpu" else 1000)
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        yield scale(batch) if was_uint8 else batch.float()
