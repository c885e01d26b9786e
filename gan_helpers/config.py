"""Configuration: the validated ``TrainConfig`` of a training run, shared by the notebooks and
the command line, and the classifier's ``ClassifierConfig``. A bad value is a ValueError."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from pathlib import Path

from gan_helpers.augment import AUGMENTS
from gan_helpers.checks import (
    SEED_RANGE,
    SettingError,
    check_device,
    flag,
    integer,
    number,
    one_of,
    text,
)
from gan_helpers.data import DATA_DIR, DATASETS, FASHION, check_data_root, get_spec, project_dir
from gan_helpers.image_folder import CHANNELS, DEFAULT_SIZE, IMAGE_SIZES
from gan_helpers.kinds import KINDS, MODEL_KINDS, ModelKind, get_kind
from gan_helpers.losses import GENERATOR_LOSSES, LOSSES, NON_SATURATING
from gan_helpers.models import IMAGE_SHAPE

SAMPLES_DIR = project_dir() / "generated_samples"
DEFAULT_DATASET = FASHION.name  # the course's dataset, named once in gan_helpers.data



@dataclass
class TrainConfig:
    """Everything that defines a training run.

    An invalid value raises ValueError, at creation and on assignment alike
    (``config.num_epochs = -5`` is refused and leaves the config as it was).
    """

    model: str = "dcgan"
    dataset: str = DEFAULT_DATASET  # see gan_helpers.data.DATASETS
    num_epochs: int = 10
    batch_size: int = 128
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    lr_decay: float = 0.0  # share of the run, at its end, over which both rates fall linearly to 0; 0: none
    latent_dim: int = 100
    generator_loss: str = NON_SATURATING  # GANs: -log D(G(z)), or "saturating": log(1 - D(G(z)))
    dropout: float = 0.3  # DCGAN and conditional discriminators: share of activations dropped
    n_critic: int = 5  # WGAN-GP: critic updates per generator update
    gp_weight: float = 10.0  # WGAN-GP: lambda, the weight of the gradient penalty
    loss: str = NON_SATURATING  # SN-GAN: the loss pair of both players (see losses.LOSSES)
    spectral_norm: bool = False  # SN-GAN: spectral norm on every discriminator layer
    r1_weight: float = 0.0  # SN-GAN: gamma, the R1 penalty's weight (gamma / 2 * E||grad D(x)||^2)
    seed: int = 0
    device: str = "auto"
    subset: float = 1.0  # share of the training set to use, in (0, 1]
    data_dir: str = ""  # chapter 10: a folder of your own images to train on instead of dataset
    image_size: int = 0  # a folder's images: 28, 32 or 64 pixels (0: 32; the MNIST-format sets are 28)
    channels: int = 0  # a folder's images: 1 (grey) or 3 (colour) (0: 3 if any image has colour)
    folder_classes: tuple[str, ...] = ()  # filled in from data_dir by new_run: its subfolders' names
    augment: str = "none"  # chapter 10: augmentation before the discriminator (see augment.AUGMENTS)
    data_root: str = str(DATA_DIR)  # where the datasets (and the cache of data_dir's images) are kept
    output_dir: str = str(SAMPLES_DIR)
    run_name: str = ""  # empty: the model kind
    sample_every: int = 1  # epochs between saved sample grids
    checkpoint_every: int = 1  # epochs between checkpoints
    log_every: int = 50  # batches between history entries (the only host syncs)
    ema_decay: float = 0.999  # average of the generator's weights for samples and export; 0: off
    ema_start: int = 0  # generator steps the average only copies, before it starts averaging
    quality_every: int = 1  # epochs between FD measurements during training (Fashion-MNIST); 0: off
    quality_samples: int = 2000  # samples (and real images) per measurement
    # Speed options (gan_helpers.speed; measured in benchmarks/README.md); none changes what is learned
    channels_last: bool = False  # conv models in NHWC layout: same results
    amp: bool = False  # bfloat16 autocast: close to float32, not equal
    compile: bool = False  # torch.compile the networks (the critic of WGAN-GP stays eager)
    cuda_graphs: bool = True  # on CUDA, replay the package's own steps from a CUDA graph (not with lr_decay)
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
        self.betas = tuple(self.betas) if isinstance(self.betas, (tuple, list)) else self.betas
        if isinstance(self.folder_classes, list):  # as a checkpoint's plain data gives it back
            self.folder_classes = tuple(self.folder_classes)
        self._validate()
        object.__setattr__(self, "_checked", True)

    def _validate(self) -> None:
        """Check every field; integers and numbers are kept as ``int`` and ``float``."""
        one_of("TrainConfig.model", self.model, MODEL_KINDS)
        one_of("TrainConfig.dataset", self.dataset, DATASETS)
        check_device("TrainConfig.device", self.device)
        for name, low, high in _INT_RANGES:
            object.__setattr__(self, name, integer(f"TrainConfig.{name}", getattr(self, name), low, high))
        for name, low, high, low_in, high_in in _NUMBER_RANGES:
            value = getattr(self, name)
            value = number(f"TrainConfig.{name}", value, low, high, low_in=low_in, high_in=high_in)
            object.__setattr__(self, name, value)
        one_of("TrainConfig.generator_loss", self.generator_loss, GENERATOR_LOSSES)
        one_of("TrainConfig.loss", self.loss, LOSSES)
        self._check_stabilizers()
        for name in ("spectral_norm", "channels_last", "amp", "compile", "cuda_graphs", "reuse_cpu_memory"):
            flag(f"TrainConfig.{name}", getattr(self, name))
        betas_ok = isinstance(self.betas, tuple) and len(self.betas) == 2
        if not betas_ok or not all(isinstance(b, numbers.Real) and 0.0 <= b < 1.0 for b in self.betas):
            raise SettingError("TrainConfig.betas", self.betas, "need two numbers in [0, 1)")
        for name in ("data_root", "output_dir", "run_name"):
            text(f"TrainConfig.{name}", getattr(self, name), "a string (a path)")
        check_data_root("TrainConfig.data_root", self.data_root, self.dataset)
        self._check_images()
        if self.ema_start and not self.ema_decay:
            rule = "delays the weight average, which is off (its decay is 0); give it a decay above 0"
            raise SettingError("TrainConfig.ema_start", self.ema_start, rule)
        if self.run_name and (Path(self.run_name).name != self.run_name or self.run_name in (".", "..")):
            raise SettingError(
                "TrainConfig.run_name", self.run_name,
                "must be a folder name, not a path; put the parent folder in output_dir (--output-dir)",
            )  # fmt: skip

    def _check_stabilizers(self) -> None:
        """Chapter 08's settings belong to the kinds that read them: elsewhere they would be ignored."""
        stabilizers = self.kind.stabilizers
        if stabilizers and self.generator_loss != NON_SATURATING:
            raise SettingError(
                "TrainConfig.generator_loss", self.generator_loss,
                f"{self.model} chooses both players' losses with loss (one of {', '.join(LOSSES)}); "
                f"leave generator_loss at {NON_SATURATING!r}",
            )  # fmt: skip
        changed = [
            (name, getattr(self, name))
            for name, off in (("loss", NON_SATURATING), ("spectral_norm", False), ("r1_weight", 0.0))
            if getattr(self, name) != off
        ]
        if changed and not stabilizers:
            having = [kind for kind in KINDS.values() if kind.stabilizers]
            raise SettingError(
                f"TrainConfig.{changed[0][0]}", changed[0][1],
                f"only the {', '.join(k.name for k in having)} model (chapter {having[0].chapter[:2]}) has "
                f"this setting; use model={having[0].name!r} or leave it at its default",
            )  # fmt: skip

    def _check_images(self) -> None:
        """Chapter 10's settings: sizes and channels for a folder alone. The folder itself is read,
        and refused if it holds nothing to train on, when a run starts (a trained generator's
        config still loads after its folder is gone)."""
        text("TrainConfig.data_dir", self.data_dir, "a string (a folder of images; empty: use dataset)")
        one_of("TrainConfig.image_size", self.image_size, (0, *IMAGE_SIZES))
        one_of("TrainConfig.channels", self.channels, (0, *CHANNELS))
        one_of("TrainConfig.augment", self.augment, AUGMENTS)
        if self.augment == "adaptive" and self.kind.critic:
            raise SettingError(
                "TrainConfig.augment", self.augment,
                f"adaptive reads the sign of a discriminator's logits, and {self.model}'s critic gives "
                "unbounded scores; use augment='diff' with it",
            )  # fmt: skip
        names = self.folder_classes
        if not isinstance(names, tuple) or not all(isinstance(name, str) for name in names):
            raise SettingError("TrainConfig.folder_classes", self.folder_classes, "must be a tuple of names")
        if self.data_dir:
            if self.dataset != DEFAULT_DATASET:
                raise SettingError(
                    "TrainConfig.dataset", self.dataset,
                    "data_dir already says what to train on; give either a folder or a dataset, not both",
                )  # fmt: skip
            return
        title = get_spec(self.dataset).title
        for name, own in (("image_size", 28), ("channels", 1)):
            if getattr(self, name) not in (0, own):
                raise SettingError(
                    f"TrainConfig.{name}", getattr(self, name),
                    f"{title} is 28x28 grey; {name} applies to a folder of your own images (data_dir)",
                )  # fmt: skip

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the training images, which the networks are built for."""
        if not self.data_dir:
            return IMAGE_SHAPE
        if not self.channels:
            raise ValueError("the channels of data_dir's images are known once new_run has read the folder")
        side = self.image_size or DEFAULT_SIZE
        return (self.channels, side, side)

    @property
    def kind(self) -> ModelKind:
        """The model kind's entry in ``kinds.KINDS``: its networks, step and facts, looked up once here."""
        return get_kind(self.model)

    @property
    def penalizes_gradients(self) -> bool:
        """Whether the discriminator's loss holds its own gradient (WGAN-GP's penalty, or R1)."""
        return self.kind.critic or self.r1_weight > 0

    @property
    def name(self) -> str:
        """The run's folder name under ``output_dir``."""
        return self.run_name or self.model

    @property
    def class_names(self) -> tuple[str, ...]:
        """The classes of the training images, label 0 first (a folder's: its subfolders)."""
        return self.folder_classes if self.data_dir else get_spec(self.dataset).class_names

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
    ("ema_start", 0, 10_000_000),
]
_NUMBER_RANGES = [  # name, low, high, whether low and high belong to the range
    ("lr_g", 0.0, 1.0, False, True),
    ("lr_d", 0.0, 1.0, False, True),
    ("lr_decay", 0.0, 1.0, True, True),
    ("subset", 0.0, 1.0, False, True),
    ("gp_weight", 0.0, 1e4, True, True),
    ("r1_weight", 0.0, 1e4, True, True),
    ("dropout", 0.0, 0.95, True, True),
    ("ema_decay", 0, 1, True, False),
]




