"""Chapters 02-08: the model kinds, in one table: for each, its networks, its training step, its recommended
settings, and whether its discriminator is a critic. Adding a kind is one entry in ``KINDS``;
the config's validation, the command line, the engine, the speed paths, the panels and the
plots all read it instead of testing the model's name."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from torch import nn

from gan_helpers.models import (
    IMAGE_SHAPE,
    ConditionalGenerator,
    Critic,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    ProjectionDiscriminator,
    Shape,
    SNDiscriminator,
    init_weights,
)
from gan_helpers.steps import (
    Step,
    conditional_train_step,
    gan_train_step,
    stabilized_train_step,
    wgan_gp_train_step,
)


def single_phase(run) -> Hashable:
    """A step that runs the same code every batch (both networks move each time): one phase."""
    return None


def moves_generator(run) -> Hashable:
    """WGAN-GP's two variants of a step: with or without the generator's update."""
    return (run.step + 1) % run.config.n_critic == 0


@dataclass(frozen=True)
class Progress:
    """How the two players stand, beside the losses: the series, how a plot labels them, and
    the penalty's series with its axis label (drawn apart: it is far smaller than the rest)."""

    series: tuple[str, ...]
    title: str
    ylabel: str
    penalty: tuple[str, str] | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """Every series it records, the penalty last."""
        return self.series + (self.penalty[:1] if self.penalty else ())


@dataclass(frozen=True)
class ModelKind:
    """What differs between model kinds. Everything else is shared."""

    name: str
    title: str  # for plots and tables
    chapter: str  # the notebook that teaches it
    generator: Callable[[int, int, Shape], nn.Module]  # (latent_dim, num_classes, image_shape) -> generator
    # (num_classes, dropout, spectral_norm, image_shape) -> discriminator or critic, where each one applies
    discriminator: Callable[[int, float, bool, Shape], nn.Module]
    step: Step  # the package's step for this kind
    defaults: dict = field(default_factory=dict)  # recommended TrainConfig values
    critic: bool = False  # scores instead of probabilities: Wasserstein losses and a gradient penalty
    conditional: bool = False  # both networks take the class label
    dropout: bool = False  # the discriminator has dropout layers (TrainConfig.dropout applies)
    convolutional: bool = True  # images as feature maps (channels-last layout applies)
    stabilizers: bool = False  # the config chooses the loss pair, spectral norm and R1 (chapter 08)
    phase: Callable = single_phase  # which recorded CUDA graph the next step replays

    @property
    def progress(self) -> Progress:
        """The series beside the losses that show how the two players stand."""
        if self.critic:
            penalty = ("gp", "gradient penalty")
            return Progress(("wasserstein",), "critic: Wasserstein estimate", "W estimate", penalty)
        if self.stabilizers:
            return Progress(("logit_real", "logit_fake"), "D's mean logits", "logit", ("r1", "R1 penalty"))
        return Progress(("d_real", "d_fake"), "D(x) and D(G(z))", "probability")

    @property
    def metrics(self) -> tuple[str, ...]:
        """The history's series, in order (a learner's step may add more)."""
        return ("loss_d", "loss_g", *self.progress.names)


# Learning rates and Adam betas of the DCGAN paper and of Gulrajani et al. (2017); the DCGAN's
# batch size, generator rate and dropout chosen by measurement (benchmarks/README.md, "Recipes").
# The SN-GAN: the DCGAN's recipe with all three of chapter 08's stabilizers switched on.
KINDS = {
    kind.name: kind
    for kind in (
        ModelKind(
            "mlp", "MLP GAN", "02_mlp_gan",
            generator=lambda latent_dim, classes, shape: MLPGenerator(latent_dim, shape),
            discriminator=lambda classes, dropout, normed, shape: MLPDiscriminator(shape),
            step=gan_train_step, convolutional=False,
            defaults={"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 40},
        ),
        ModelKind(
            "dcgan", "DCGAN", "03_dcgan",
            generator=lambda latent_dim, classes, shape: DCGANGenerator(latent_dim, image_shape=shape),
            discriminator=lambda classes, dropout, normed, shape: DCGANDiscriminator(
                dropout=dropout, image_shape=shape
            ),
            step=gan_train_step, dropout=True,
            defaults={"lr_g": 4e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10,
                      "batch_size": 32, "dropout": 0.0},
        ),
        ModelKind(
            "wgan-gp", "WGAN-GP", "04_wgan_gp",
            generator=lambda latent_dim, classes, shape: DCGANGenerator(latent_dim, image_shape=shape),
            discriminator=lambda classes, dropout, normed, shape: Critic(image_shape=shape),
            step=wgan_gp_train_step, critic=True, phase=moves_generator,
            defaults={"lr_g": 1e-4, "lr_d": 1e-4, "betas": (0.5, 0.9), "num_epochs": 20},
        ),
        ModelKind(
            "cgan", "conditional GAN", "06_conditional_gan",
            generator=lambda latent_dim, classes, shape: ConditionalGenerator(
                latent_dim, classes, image_shape=shape
            ),
            discriminator=lambda classes, dropout, normed, shape: ProjectionDiscriminator(
                classes, dropout=dropout, image_shape=shape
            ),
            step=conditional_train_step, conditional=True, dropout=True,
            defaults={"lr_g": 2e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 10},
        ),
        ModelKind(
            "sngan", "SN-GAN", "08_stabilizing_gans",
            generator=lambda latent_dim, classes, shape: DCGANGenerator(latent_dim, image_shape=shape),
            discriminator=lambda classes, dropout, normed, shape: SNDiscriminator(
                spectral_norm=normed, image_shape=shape
            ),
            step=stabilized_train_step, stabilizers=True,
            defaults={"lr_g": 4e-4, "lr_d": 2e-4, "betas": (0.5, 0.999), "num_epochs": 5, "batch_size": 32,
                      "loss": "hinge", "spectral_norm": True, "r1_weight": 0.1},
        ),
    )
}  # fmt: skip
MODEL_KINDS = tuple(KINDS)


def get_kind(name: str) -> ModelKind:
    """The entry for ``name``; a ValueError naming the valid kinds if there is none."""
    if name not in KINDS:
        raise ValueError(f"model kind {name!r} is unknown; choose one of {', '.join(KINDS)}")
    return KINDS[name]


def build_generator(
    kind: str, latent_dim: int = 100, num_classes: int = 10, image_shape: Shape = IMAGE_SHAPE
) -> nn.Module:
    """The generator for a model kind, initialised (``num_classes`` matters for conditional kinds)."""
    generator = get_kind(kind).generator(latent_dim, num_classes, tuple(image_shape))
    generator.apply(init_weights)
    return generator


def build_discriminator(
    kind: str,
    num_classes: int = 10,
    dropout: float = 0.3,
    spectral_norm: bool | None = None,
    image_shape: Shape = IMAGE_SHAPE,
) -> nn.Module:
    """The discriminator (or critic) for a model kind, initialised (``dropout`` and
    ``spectral_norm`` where it has them; ``spectral_norm=None``: the kind's default)."""
    if spectral_norm is None:
        spectral_norm = get_kind(kind).defaults.get("spectral_norm", False)
    discriminator = get_kind(kind).discriminator(num_classes, dropout, spectral_norm, tuple(image_shape))
    discriminator.apply(init_weights)
    return discriminator
