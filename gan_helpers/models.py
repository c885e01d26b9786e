"""The networks of the course, and drawing images from a trained generator.

MLP GAN (chapter 02), DCGAN (03), WGAN-GP critic (04), conditional GAN (06), and the classifier
behind the quality metrics (05); chapter 08's discriminator is in ``gan_helpers.spectral_norm``.
Plain ``torch.nn`` layers only: the engine swaps in faster equivalents
while it trains (``gan_helpers.speed``). Every discriminator and critic returns one raw score
per image (a logit, or the critic's unbounded value); the losses apply the sigmoid themselves,
which is numerically safer than a Sigmoid layer followed by BCELoss.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.nn.utils import parametrize

from gan_helpers.checks import check_seed, integer
from gan_helpers.spectral_norm import init_normalized

IMAGE_SHAPE = (1, 28, 28)


class MLPGenerator(nn.Module):
    """Noise -> four fully connected layers -> 784 pixels in [-1, 1]."""

    def __init__(self, latent_dim: int = 100) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512, bias=False),  # no bias: batch norm's shift replaces it
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024, bias=False),
            nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 28 * 28),
            nn.Tanh(),  # pixels in (-1, 1), like the scaled real images
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *IMAGE_SHAPE)


class MLPDiscriminator(nn.Module):
    """Flattened image -> three fully connected layers -> one logit."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1),  # a logit: no sigmoid here
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class DCGANGenerator(nn.Module):
    """Noise -> linear projection to 128x7x7 -> two transposed convolutions -> 1x28x28."""

    def __init__(self, latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),  # a coarse 7x7 layout of the garment
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 14x14
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 28x28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z))


class DCGANDiscriminator(nn.Module):
    """Two strided convolutions with LeakyReLU and dropout -> one logit per image.

    Dropout (not the paper's batch norm) works against a discriminator that memorises the
    training images; ``dropout=0`` (the DCGAN recipe's setting) switches it off.
    """

    def __init__(self, width: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),  # 14x14
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 7x7
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class Critic(nn.Module):
    """The WGAN-GP critic: the DCGAN discriminator's convolutions, with no dropout and no batch norm.

    Batch norm would mix the images of a batch, so the critic's gradient for one image would
    depend on the others, and the per-image gradient penalty would no longer mean anything.
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, width, 4, stride=2, padding=1),  # 14x14
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 7x7
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * width * 7 * 7, 1),  # an unbounded score, not a probability
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class ConditionalGenerator(DCGANGenerator):
    """The DCGAN generator fed with the noise joined to a learned embedding of the class label."""

    def __init__(self, latent_dim: int = 100, num_classes: int = 10, embed_dim: int = 32) -> None:
        super().__init__(latent_dim + embed_dim)
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.from_embedding(z, self.embed(labels))

    def from_embedding(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """Images for label embeddings given directly (e.g. mixed between two classes)."""
        return super().forward(torch.cat([z, embedding], dim=1))


class ProjectionDiscriminator(nn.Module):
    """DCGAN features h, scored as ``w·h + embed(label)·h`` (Miyato & Koyama, 2018).

    The label picks a direction in feature space; the image is judged real *for that class*
    by how far its features point that way.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = DCGANDiscriminator(width, dropout).net[:-1]  # everything but the last linear
        self.score = nn.Linear(2 * width * 7 * 7, 1)
        self.embed = nn.Embedding(num_classes, 2 * width * 7 * 7)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images)
        return self.score(h).flatten() + (self.embed(labels) * h).sum(dim=1)


class FashionClassifier(nn.Module):
    """Two blocks of two 3x3 convolutions with max pooling, then a 128-d feature layer.

    Its features are the space of the project's quality metrics (chapter 05).
    """

    def __init__(self, num_classes: int = 10, features: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(1, 32), conv_block(32, 32), nn.MaxPool2d(2),  # 14x14
            conv_block(32, 64), conv_block(64, 64), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(features, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    """A 3x3 convolution, batch norm and ReLU, keeping the map size."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


def init_weights(module: nn.Module) -> None:
    """DCGAN-paper initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales; layers under
    spectral norm get PyTorch's own (``spectral_norm.init_normalized``)."""
    if isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif parametrize.is_parametrized(module, "weight"):
        init_normalized(module)
    elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def is_conditional(model: nn.Module) -> bool:
    """Whether a generator or discriminator takes class labels."""
    return hasattr(model, "num_classes")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- Drawing images from a generator.


@contextmanager
def eval_mode(model: nn.Module):
    """Eval mode inside (batch norm uses its running statistics), the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def generate(
    generator: nn.Module, count: int = 100, seed: int = 0, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """``count`` images in [-1, 1] on the CPU; the same ``seed`` gives the same images.

    A conditional generator draws ``labels`` (default: every class equally, in order).
    """
    count = integer("count", count, 1)
    check_seed(seed)
    noise = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    if labels is None and is_conditional(generator):
        labels = grid_labels(count, generator.num_classes)
    return generate_from(generator, noise, labels)


@torch.no_grad()
def generate_from(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None):
    """The images for given noise (and labels, if conditional), in eval mode, on the CPU."""
    device = next(generator.parameters()).device
    condition = () if labels is None else (_check_labels(generator, labels, len(noise)).to(device),)
    with eval_mode(generator):
        return generator(noise.to(device), *condition).float().cpu()


def _check_labels(generator: nn.Module, labels: torch.Tensor, count: int) -> torch.Tensor:
    if not is_conditional(generator):
        raise ValueError("this generator is not conditional: call it without labels")
    classes = generator.num_classes
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be whole class numbers 0..{classes - 1}, got {labels.dtype} values")
    labels = labels.long()
    if labels.shape != (count,) or labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"need {count} labels in 0..{classes - 1}, got shape {tuple(labels.shape)}")
    return labels


def grid_labels(count: int, num_classes: int) -> torch.Tensor:
    """``count`` labels covering the classes in order and equally (rows of a 10x10 grid for 10)."""
    return torch.arange(count) * num_classes // count


def cycled_labels(count: int, num_classes: int) -> torch.Tensor:
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: every stretch of the samples is balanced.

    Metrics that split the samples (the inception score does) need this; grid labels would
    give each split a single class.
    """
    return torch.arange(count) % num_classes


def metric_samples(generator: nn.Module, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` images for measuring a generator: a conditional one draws all classes, cycled."""
    labels = cycled_labels(count, generator.num_classes) if is_conditional(generator) else None
    return generate(generator, count, seed, labels)


@torch.no_grad()
def morph_classes(generator: nn.Module, z: torch.Tensor, start: int, end: int, steps: int = 8):
    """Images for one noise vector ``z`` while the label embedding slides from ``start`` to ``end``."""
    if not hasattr(generator, "from_embedding"):
        raise ValueError("morph_classes needs a conditional generator (model 'cgan')")
    if steps < 2:
        raise ValueError(f"steps = {steps}: need at least 2")
    device = next(generator.parameters()).device
    ends = generator.embed(torch.tensor([start, end], device=device))
    t = torch.linspace(0, 1, steps, device=device).unsqueeze(1)
    with eval_mode(generator):
        images = generator.from_embedding(z.to(device).expand(steps, -1), (1 - t) * ends[0] + t * ends[1])
    return images.float().cpu()


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the great circle from z0 to z1 (rows of [steps, latent_dim]).

    Gaussian noise vectors live near a sphere of radius sqrt(latent_dim); a straight line
    between two of them passes through the less likely inside, a spherical path does not.
    """
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"slerp needs two vectors of one shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"steps = {steps}: need at least 2")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    omega = torch.arccos(torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1))
    if omega.abs() < 1e-6:  # (nearly) parallel: the straight line is the arc
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
