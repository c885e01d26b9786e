"""Configuration: the validated ``TrainConfig`` shared by notebooks and the command line, the
classifier's config, where run outputs go, and which device to train on."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import torch

from gan_helpers.data import DATA_DIR, DATASETS, get_spec, project_dir
from gan_helpers.models import MODEL_KINDS

SAMPLES_DIR = project_dir() / "generated_samples"

# Learning rates and Adam betas recommended for each model (DCGAN paper; Gulrajani et al. 2017).
DEFAULTS = {
    "mlp": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 40},
    "dcgan": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10},
    "wgan-gp": {"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9), "num_epochs": 20},
    "cgan": {"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10},
}
DEVICES = ("auto", "cpu", "cuda", "mps")


@dataclass
class TrainConfig:
    """Everything that defines a training run. Invalid values raise ValueError at creation."""

    model: str = "dcgan"
    dataset: str = "fashion-mnist"  # see gan_helpers.data.DATASETS
    num_epochs: int = 10
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    latent_dim: int = 100
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
        return cls(**{"model": model, **DEFAULTS[model], **overrides})

    def __post_init__(self) -> None:
        self.betas = tuple(self.betas)
        _choice("model", self.model, MODEL_KINDS)
        _choice("dataset", self.dataset, tuple(DATASETS))
        _choice("device", self.device, DEVICES, prefix_ok=True)
        for name, low, high in _INT_RANGES:
            _int_range(name, getattr(self, name), low, high)
        for name, low, high in _FLOAT_RANGES:
            _float_range(name, getattr(self, name), low, high)
        for name in ("channels_last", "amp", "compile", "cuda_graphs", "reuse_cpu_memory"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"TrainConfig.{name} = {getattr(self, name)!r}: must be True or False")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"TrainConfig.betas = {self.betas}: need two numbers in [0, 1)")

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

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


_INT_RANGES = [
    ("num_epochs", 1, 10_000),
    ("batch_size", 1, 60_000),
    ("latent_dim", 1, 4096),
    ("n_critic", 1, 100),
    ("seed", 0, 2**31 - 1),
    ("sample_every", 1, 10_000),
    ("checkpoint_every", 1, 10_000),
    ("log_every", 1, 1_000_000),
]
_FLOAT_RANGES = [("lr_g", 0.0, 1.0), ("lr_d", 0.0, 1.0), ("gp_weight", 0.0, 1e4), ("subset", 0.0, 1.0)]


def _int_range(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be an integer from {low} to {high}")


def _float_range(name: str, value, low: float, high: float) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok or not low < value <= high:
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be a number in ({low}, {high}]")


def _choice(name: str, value, allowed: tuple[str, ...], prefix_ok: bool = False) -> None:
    base = value.split(":")[0] if prefix_ok and isinstance(value, str) else value
    if base not in allowed:
        raise ValueError(f"TrainConfig.{name} = {value!r}: must be one of {', '.join(allowed)}")


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
