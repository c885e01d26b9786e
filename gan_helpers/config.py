"""Configuration: the validated ``TrainConfig`` shared by notebooks and the command line, the
classifier's config, which device to train on, and where run outputs go: a run's folder, locked
while it trains, and files written whole (atomically)."""

from __future__ import annotations

import dataclasses
import errno
import io
import numbers
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import torch

from gan_helpers.data import DATA_DIR, DATASETS, get_spec, project_dir
from gan_helpers.models import MODEL_KINDS, SEED_RANGE

SAMPLES_DIR = project_dir() / "generated_samples"

# Settings recommended for each model: learning rates and Adam betas of the DCGAN paper and of
# Gulrajani et al. (2017); the DCGAN's batch, generator rate and dropout chosen by measurement
# (benchmarks/recipes.py: FD after 5 epochs 19.4 against 43.8 with the textbook settings, batches
# of 128, both rates 2e-4 and dropout 0.3).
DEFAULTS = {
    "mlp": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 40},
    "dcgan": {"lr_g": 4e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10,
              "batch_size": 32, "dropout": 0.0},
    "wgan-gp": {"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9), "num_epochs": 20},
    "cgan": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10},
}
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    """Everything that defines a training run.

    An invalid value raises ValueError, at creation and on assignment alike
    (``config.num_epochs = -5`` is refused and leaves the config as it was).
    """

    model: str = "dcgan"
    dataset: str = "fashion-mnist"  # see gan_helpers.data.DATASETS
    num_epochs: int = 10
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    latent_dim: int = 100
    generator_loss: str = "non-saturating"  # GANs: -log D(G(z)), or "saturating": log(1 - D(G(z)))
    dropout: float = 0.3  # DCGAN and conditional discriminators: share of activations dropped
    n_critic: int = 5  # WGAN-GP: critic updates per generator update
    gp_weight: float = 10.0  # WGAN-GP: lambda, the weight of the gradient penalty
    seed: int = 0
    device: str = "auto"
    subset: float = 1.0  # share of the training set to use, in (0, 1]
    data_root: str = str(DATA_DIR)
    output_dir: str = str(SAMPLES_DIR)
    run_name: str = ""  # empty: the model kind
    sample_every: int = 1  # epochs between saved sample grids
    checkpoint_every: int = 1  # epochs between checkpoints
    log_every: int = 50  # batches between history entries (the only host syncs)
    ema_decay: float = 0.999  # average of the generator's weights for samples and export; 0: off
    quality_every: int = 1  # epochs between FD measurements during training (Fashion-MNIST); 0: off
    quality_samples: int = 2000  # samples (and real images) per measurement
    # Speed options (gan_helpers.speed; measured in benchmarks/README.md); none changes what is learned
    channels_last: bool = False  # conv models in NHWC layout: same results
    amp: bool = False  # bfloat16 autocast: close to float32, not equal
    compile: bool = False  # torch.compile the networks (the critic of WGAN-GP stays eager)
    cuda_graphs: bool = True  # on a CUDA device, replay each step of the package's own from a CUDA graph
    reuse_cpu_memory: bool = True  # on the CPU, malloc keeps freed memory for the next step
    extra: dict = field(default_factory=dict)  # free-form notes kept with the checkpoint

    @classmethod
    def for_model(cls, model: str, **overrides) -> TrainConfig:
        """The recommended configuration for ``model``, with ``overrides`` applied."""
        if model not in DEFAULTS:
            raise ValueError(f"model {model!r} is unknown; choose one of {', '.join(MODEL_KINDS)}")
        check_field_names(overrides)
        return cls(**{"model": model, **DEFAULTS[model], **overrides})

    def __setattr__(self, name: str, value) -> None:
        if "_checked" in self.__dict__:  # after creation: check the changed config as a whole first
            value = getattr(dataclasses.replace(self, **{name: value}), name)
        object.__setattr__(self, name, value)

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas) if _is_sequence(self.betas) else self.betas
        for name, _, _ in _INT_RANGES:  # numpy and torch integers are integers too
            value = getattr(self, name)
            if isinstance(value, numbers.Integral) and not isinstance(value, bool):
                setattr(self, name, int(value))
        for name, _, _ in _FLOAT_RANGES + _CLOSED_RANGES:
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                setattr(self, name, float(value))
        self._validate()
        object.__setattr__(self, "_checked", True)

    def _validate(self) -> None:
        _choice("model", self.model, MODEL_KINDS)
        _choice("dataset", self.dataset, tuple(DATASETS))
        _choice("device", self.device, DEVICES, prefix_ok=True)
        _device_name(self.device)
        for name, low, high in _INT_RANGES:
            _int_range(name, getattr(self, name), low, high)
        for name, low, high in _FLOAT_RANGES:
            _float_range(name, getattr(self, name), low, high)
        for name, low, high in _CLOSED_RANGES:
            _float_range(name, getattr(self, name), low, high, closed=True)
        _choice("generator_loss", self.generator_loss, GENERATOR_LOSSES)
        ok = isinstance(self.ema_decay, numbers.Real) and not isinstance(self.ema_decay, bool)
        if not ok or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay = {self.ema_decay!r}: must be a number in [0, 1)")
        for name in ("channels_last", "amp", "compile", "cuda_graphs", "reuse_cpu_memory"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r}: must be True or False")
        betas_ok = _is_sequence(self.betas) and len(self.betas) == 2
        if not betas_ok or not all(isinstance(b, numbers.Real) and 0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainConfig.betas = {self.betas!r}: need two numbers in [0, 1)")
        for name in ("data_root", "output_dir", "run_name"):
            if not isinstance(getattr(self, name), str):
                raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r}: must be a string (a path)")
        if Path(self.data_root).is_file():
            raise ValueError(
                f"TrainConfig.data_root = {self.data_root!r}: is a file; give the folder that holds (or "
                "will hold) FashionMNIST/raw/"
            )
        if self.run_name and (Path(self.run_name).name != self.run_name or self.run_name in (".", "..")):
            raise ValueError(
                f"TrainConfig.run_name = {self.run_name!r}: must be a folder name, not a path; "
                "put the parent folder in output_dir (--output-dir)"
            )

    @property
    def name(self) -> str:
        """The run's folder name under ``output_dir``."""
        return self.run_name or self.model

    @property
    def class_names(self) -> tuple[str, ...]:
        """The dataset's class names, label 0 first."""
        return get_spec(self.dataset).class_names

    @property
    def num_classes(self) -> int:
        """Classes in the dataset (the labels a conditional GAN can be asked for)."""
        return len(self.class_names)

    def replace(self, **changes) -> TrainConfig:
        """A checked copy with ``changes`` applied (``config.replace(dropout=0.0)``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a plain dict (what a checkpoint stores)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """A config from a dict; keys that are not fields (from older versions) are ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


def check_field_names(values: dict, what: str = "TrainConfig") -> None:
    """Refuse keys that are not fields of ``TrainConfig`` (a typo would otherwise be ignored)."""
    known = [f.name for f in dataclasses.fields(TrainConfig)]
    unknown = [name for name in values if name not in known]
    if unknown:
        names = ", ".join(known)
        raise ValueError(f"{what}: unknown setting(s) {', '.join(unknown)}; the settings are {names}")


_INT_RANGES = [
    ("num_epochs", 1, 10_000),
    ("batch_size", 2, 60_000),  # batch norm needs two images to normalise
    ("latent_dim", 1, 4096),
    ("n_critic", 1, 100),
    ("seed", *SEED_RANGE),
    ("sample_every", 1, 10_000),
    ("checkpoint_every", 1, 10_000),
    ("log_every", 1, 1_000_000),
    ("quality_every", 0, 10_000),
    ("quality_samples", 2, 60_000),
]
_FLOAT_RANGES = [("lr_g", 0.0, 1.0), ("lr_d", 0.0, 1.0), ("subset", 0.0, 1.0)]  # (low, high]
_CLOSED_RANGES = [("gp_weight", 0.0, 1e4), ("dropout", 0.0, 0.95)]  # [low, high]
GENERATOR_LOSSES = ("non-saturating", "saturating")


def _is_sequence(value) -> bool:
    return isinstance(value, (tuple, list))


def _int_range(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be an integer from {low} to {high}")


def _float_range(name: str, value, low: float, high: float, closed: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not (low <= value if closed else low < value) or not value <= high:
        interval = f"[{low}, {high}]" if closed else f"({low}, {high}]"
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be a number in {interval}")


def _choice(name: str, value, allowed: tuple[str, ...], prefix_ok: bool = False) -> None:
    base = value.split(":")[0] if prefix_ok and isinstance(value, str) else value
    if base not in allowed:
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be one of {', '.join(allowed)}")


def _device_name(name: str) -> None:
    """Refuse a device string torch cannot parse ("cuda:abc") when it is set, not at training."""
    if name != "auto":
        try:
            torch.device(name)
        except RuntimeError:
            raise ValueError(
                f"TrainConfig.device = {name!r}: not a device name; use auto, cpu, cuda, cuda:N or mps"
            ) from None


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` gives the best device present; otherwise the named one, if it exists."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a device name; use auto, cpu, cuda or mps") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use auto or cpu")
    return device


@dataclass
class ClassifierConfig:
    """How the classifier behind the quality metrics is trained (``train-classifier``)."""

    num_epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, low in (("num_epochs", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ClassifierConfig.{name} = {value!r}: must be an integer >= {low}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"ClassifierConfig.lr = {self.lr!r}: must be a number in (0, 1]")


# --- A run's folder: files written whole, no second run mixed in, no run replaced by mistake.


class DiskFullError(OSError):
    """A file did not fit on its disk; the file it was to replace is kept as it was."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], size: int = 0) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``: never half a file.

    A reader sees the old file or the new one; a crash leaves a ``*.tmp`` file, which the next
    training in that folder removes. ``size`` (bytes, when known) is checked against the free
    space first; a full disk is a ``DiskFullError`` that names the file and the space needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if size > free:
        raise disk_full(path, size, free)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; these are ordinary data
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise disk_full(path, size, shutil.disk_usage(path.parent).free) from error
        raise
    return path


def disk_full(path: Path, size: int, free: int) -> DiskFullError:
    """The one-line error for a file that does not fit."""
    need = f"{size / 1e6:.1f} MB needed, " if size else ""
    kept = f"; the previous {path.name} is kept" if path.exists() else ""
    return DiskFullError(
        f"cannot write {path}: the disk is full ({need}{free / 1e6:.1f} MB free){kept}. Free some space "
        "or write elsewhere (--output-dir)",
    )


def atomic_save(obj: dict, path: str | Path) -> Path:
    """``torch.save`` through ``atomic_write``, serialised first so its size is known."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    return atomic_write(path, lambda file: file.write(data), size=len(data))


RUN_FILES = ("checkpoint.pt", "history.json", "losses.png", "epoch_*.png", "*.tmp")


@contextmanager
def run_folder(run, overwrite: bool) -> Iterator[None]:
    """Make sure the run folder can be written and holds no other run; lock it while training."""
    folder = run.run_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / ".lock", "a+")  # noqa: SIM115  (held open until training ends)
    except OSError as error:
        raise ValueError(
            f"cannot write the run into {folder} ({error.strerror or error}); choose another output_dir "
            "(--output-dir) or run_name (--run-name)"
        ) from error
    with lock:
        take_lock(lock, folder)
        checkpoint = run.checkpoint_path
        ours = run.source is not None and run.source.resolve() == checkpoint.resolve()
        if checkpoint.exists() and not ours and not overwrite:
            raise ValueError(
                f"{folder} already holds a run ({checkpoint.name}); continue it with --resume "
                f"{checkpoint} (load_run), or replace it with --overwrite (overwrite=True), or choose "
                "another --run-name"
            )
        for stale in folder.glob("*.tmp"):  # left by a process killed while saving; we hold the lock
            stale.unlink(missing_ok=True)
        yield


def take_lock(lock, folder: Path) -> None:
    """An OS lock on the run folder: a second training into it is refused, naming the first."""
    try:
        import fcntl  # POSIX only: elsewhere two trainings into one folder are not prevented
    except ImportError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        raise ValueError(
            f"{folder} is in use by another training ({holder}); wait for it to end, or choose "
            "another --run-name"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"process {os.getpid()}")
    lock.flush()


def remove_run_files(folder: Path, keep: Path | None = None) -> None:
    """Delete what an earlier run wrote into ``folder`` (``overwrite``), except ``keep``."""
    for pattern in RUN_FILES:
        for path in folder.glob(pattern):
            if keep is None or path.resolve() != keep.resolve():
                path.unlink(missing_ok=True)
