"""Configuration: the validated ``TrainConfig`` of a training run, shared by the notebooks and
the command line, and the classifier's ``ClassifierConfig``. A bad value is a ValueError."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gan_helpers.data import DATA_DIR, DATASETS, get_spec, project_dir
from gan_helpers.kinds import KINDS, MODEL_KINDS, get_kind
from gan_helpers.losses import GENERATOR_LOSSES, LOSSES
from gan_helpers.models import SEED_RANGE

SAMPLES_DIR = project_dir() / "generated_samples"

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
    loss: str = "non-saturating"  # SN-GAN: the loss pair of both players (see losses.LOSSES)
    spectral_norm: bool = False  # SN-GAN: spectral norm on every discriminator layer
    r1_weight: float = 0.0  # SN-GAN: gamma, the R1 penalty's weight (gamma / 2 * E||grad D(x)||^2)
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
        defaults = get_kind(model).defaults
        check_field_names(overrides)
        return cls(**{"model": model, **defaults, **overrides})

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
        _choice("generator_loss", self.generator_loss, tuple(GENERATOR_LOSSES))
        _choice("loss", self.loss, tuple(LOSSES))
        self._check_stabilizers()
        ok = isinstance(self.ema_decay, numbers.Real) and not isinstance(self.ema_decay, bool)
        if not ok or not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay = {self.ema_decay!r}: must be a number in [0, 1)")
        for name in ("spectral_norm", "channels_last", "amp", "compile", "cuda_graphs", "reuse_cpu_memory"):
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

    def _check_stabilizers(self) -> None:
        """Chapter 08's settings belong to the kinds that read them: elsewhere they would be ignored."""
        stabilizers = get_kind(self.model).stabilizers
        if stabilizers and self.generator_loss != "non-saturating":
            raise ValueError(
                f"TrainConfig.generator_loss = {self.generator_loss!r}: {self.model} chooses both players' "
                f"losses with loss (one of {', '.join(LOSSES)}); leave generator_loss at 'non-saturating'"
            )
        changed = [
            f"{name} = {getattr(self, name)!r}"
            for name, off in (("loss", "non-saturating"), ("spectral_norm", False), ("r1_weight", 0.0))
            if getattr(self, name) != off
        ]
        if changed and not stabilizers:
            having = [kind for kind in KINDS.values() if kind.stabilizers]
            raise ValueError(
                f"TrainConfig.{changed[0]}: only the {', '.join(k.name for k in having)} model "
                f"(chapter {having[0].chapter[:2]}) has this setting; use model={having[0].name!r} "
                "or leave it at its default"
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
_CLOSED_RANGES = [("gp_weight", 0.0, 1e4), ("r1_weight", 0.0, 1e4), ("dropout", 0.0, 0.95)]  # [low, high]


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
