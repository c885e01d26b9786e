"""The training configuration: one validated dataclass shared by notebooks and the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from gan_helpers.datasets import DATASETS, get_spec
from gan_helpers.models import MODEL_KINDS
from gan_helpers.paths import DATA_DIR, SAMPLES_DIR

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
    dataset: str = "fashion-mnist"  # see gan_helpers.datasets.DATASETS
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
    channels_last: bool = False  # conv models in NHWC layout: same results, not faster on our CPU
    amp: bool = False  # bf16 autocast: 1.2-1.5x on AVX512-BF16 CPUs, 1.0-1.3x on an H100; close, not equal
    compile: bool = False  # torch.compile the networks (the critic of WGAN-GP stays eager)
    cuda_graphs: bool = True  # on a CUDA device, replay each step from a CUDA graph; ignored elsewhere
    reuse_cpu_memory: bool = True  # on the CPU, malloc keeps freed memory for the next step (allocator.py)
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
    def num_classes(self) -> int:
        """Classes in the dataset (the labels a conditional GAN can be asked for)."""
        return len(get_spec(self.dataset).class_names)

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
