"""Chapters 02, 03, 04, 06 and 08: the networks of the course, and how they are initialised.

The MLP GAN (chapter 02), the DCGAN (03), the WGAN-GP critic (04), the conditional GAN (06) and
the SN-GAN's discriminator (08; the spectral norm itself is written out in
``gan_helpers.spectral_norm``); the metrics' classifier is in ``gan_helpers.classifier`` and
drawing images from a generator in ``gan_helpers.sampling``. Plain ``torch.nn`` layers only:
the engine swaps in faster equivalents while it trains (``gan_helpers.speed``). Every
discriminator and critic returns one raw score per image (a logit, or the critic's unbounded
value); the losses apply the sigmoid themselves, which is numerically safer than a Sigmoid
layer followed by BCELoss.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.utils import parametrizations, parametrize

Shape = tuple[int, int, int]  # an image's (channels, height, width)
IMAGE_SHAPE: Shape = (1, 28, 28)  # Fashion-MNIST's


class MLPGenerator(nn.Module):
    """Noise -> four fully connected layers -> 784 pixels in [-1, 1] (the pixels of ``image_shape``)."""

    def __init__(self, latent_dim: int = 100, image_shape: Shape = IMAGE_SHAPE) -> None:
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512, bias=False),  # no bias: batch norm's shift replaces it
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024, bias=False),
            nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, math.prod(image_shape)),
            nn.Tanh(),  # pixels in (-1, 1), like the scaled real images
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """Flattened image -> three fully connected layers -> one logit."""

    def __init__(self, image_shape: Shape = IMAGE_SHAPE) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(math.prod(image_shape), 512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 1),  # a logit: no sigmoid here
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


SIDES = {28: (7, 2), 32: (4, 3), 64: (4, 4)}  # image side: (coarse side, doublings), 28 = 7 * 2**2


class DCGANGenerator(nn.Module):
    """Noise -> linear projection to 128x7x7 -> two transposed convolutions -> 1x28x28.

    Other ``image_shape``s (chapter 10): 32 and 64 pixels start from 4x4 and double three or four
    times, the channels halving at each doubling down to ``width``, then to the image's channels.
    """

    def __init__(self, latent_dim: int = 100, width: int = 64, image_shape: Shape = IMAGE_SHAPE):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        channels, side, _ = image_shape
        coarse, doublings = SIDES[side]
        top = width * 2 ** (doublings - 1)  # 128 maps for 28x28
        self.project = nn.Sequential(
            nn.Linear(latent_dim, top * coarse * coarse, bias=False),
            nn.BatchNorm1d(top * coarse * coarse),
            nn.ReLU(),
            nn.Unflatten(1, (top, coarse, coarse)),  # a coarse 7x7 layout of the garment
        )
        layers = []
        for depth in range(doublings - 1, 0, -1):  # 28x28: one block, 7x7 -> 14x14
            wide = width * 2**depth
            layers += [nn.ConvTranspose2d(wide, wide // 2, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(wide // 2), nn.ReLU()]  # fmt: skip
        layers += [nn.ConvTranspose2d(width, channels, 4, stride=2, padding=1), nn.Tanh()]  # 28x28
        self.upsample = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.upsample(self.project(z))


def downsampling(
    image_shape: Shape,
    width: int,
    after: Callable[[], list[nn.Module]] = list,
    layer: Callable[[nn.Module], nn.Module] = lambda layer: layer,
) -> list[nn.Module]:
    """The discriminators' path down: strided 4x4 convolutions, each halving the side and
    doubling the channels (28 -> 14 -> 7 with 64, then 128 maps), each followed by LeakyReLU
    and the ``after()`` layers; then the maps flattened into one linear layer's single score.
    ``layer`` wraps each weighted layer (chapter 08: in spectral norm)."""
    channels, side, _ = image_shape
    coarse, doublings = SIDES[side]
    layers = []
    for depth in range(doublings):
        inputs = channels if depth == 0 else width * 2 ** (depth - 1)
        convolution = nn.Conv2d(inputs, width * 2**depth, 4, stride=2, padding=1)
        layers += [layer(convolution), nn.LeakyReLU(0.2), *after()]
    top = width * 2 ** (doublings - 1)
    return [*layers, nn.Flatten(), layer(nn.Linear(top * coarse * coarse, 1))]


class DCGANDiscriminator(nn.Module):
    """Two strided convolutions with LeakyReLU and dropout -> one logit per image.

    Dropout (not the paper's batch norm) works against a discriminator that memorises the
    training images; ``dropout=0`` (the DCGAN recipe's setting) switches it off.
    """

    def __init__(self, width: int = 64, dropout: float = 0.3, image_shape: Shape = IMAGE_SHAPE):
        super().__init__()
        self.net = nn.Sequential(*downsampling(image_shape, width, after=lambda: [nn.Dropout(dropout)]))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class Critic(nn.Module):
    """The WGAN-GP critic: the DCGAN discriminator's convolutions, with no dropout and no batch norm.

    Batch norm would mix the images of a batch, so the critic's gradient for one image would
    depend on the others, and the per-image gradient penalty would no longer mean anything.
    """

    def __init__(self, width: int = 64, image_shape: Shape = IMAGE_SHAPE) -> None:
        super().__init__()
        self.net = nn.Sequential(*downsampling(image_shape, width))  # its score is unbounded, not a logit

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class ConditionalGenerator(DCGANGenerator):
    """The DCGAN generator fed with the noise joined to a learned embedding of the class label."""

    def __init__(
        self, latent_dim: int = 100, num_classes: int = 10, embed_dim: int = 32,
        image_shape: Shape = IMAGE_SHAPE,
    ) -> None:  # fmt: skip
        super().__init__(latent_dim + embed_dim, image_shape=image_shape)
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

    def __init__(
        self, num_classes: int = 10, width: int = 64, dropout: float = 0.3,
        image_shape: Shape = IMAGE_SHAPE,
    ) -> None:  # fmt: skip
        super().__init__()
        self.num_classes = num_classes
        layers = DCGANDiscriminator(width, dropout, image_shape).net
        self.features = layers[:-1]  # everything but the last linear
        self.score = nn.Linear(layers[-1].in_features, 1)
        self.embed = nn.Embedding(num_classes, layers[-1].in_features)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images)
        return self.score(h).flatten() + (self.embed(labels) * h).sum(dim=1)


class SNDiscriminator(nn.Module):
    """The DCGAN discriminator with spectral norm on every layer and no dropout (chapter 08).

    Each layer's weight is divided by its largest singular value, so each stretches its input
    by at most 1 and the whole network's slope is bounded: a discriminator that cannot become
    arbitrarily sharp. ``spectral_norm=False`` gives the same network without it, for comparison.
    """

    def __init__(
        self, width: int = 64, spectral_norm: bool = True, image_shape: Shape = IMAGE_SHAPE
    ) -> None:
        super().__init__()
        normed = parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        self.net = nn.Sequential(*downsampling(image_shape, width, layer=normed))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


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


def init_normalized(layer: nn.Module, power_steps: int = 15) -> None:
    """A layer under PyTorch's spectral norm drawn afresh: PyTorch's default initialisation of its
    weight and bias (what chapter 08's table measured; the normalization divides the scale out of
    the forward pass, but it still sets how far each of Adam's steps moves the normalized weight),
    and new singular-vector estimates for that weight, as the parametrization makes them."""
    original = layer.parametrizations.weight.original
    nn.init.kaiming_uniform_(original, a=math.sqrt(5))  # torch.nn.Conv2d's and Linear's own default
    if layer.bias is not None:
        bound = 1 / math.sqrt(original[0].numel())
        nn.init.uniform_(layer.bias, -bound, bound)
    norm = layer.parametrizations.weight[0]
    matrix = original.detach().flatten(start_dim=1)
    with torch.no_grad():
        u = F.normalize(torch.randn_like(norm._u), dim=0, eps=norm.eps)
        v = F.normalize(torch.randn_like(norm._v), dim=0, eps=norm.eps)
        for _ in range(power_steps):
            u = F.normalize(matrix @ v, dim=0, eps=norm.eps)
            v = F.normalize(matrix.t() @ u, dim=0, eps=norm.eps)
        norm._u.copy_(u)
        norm._v.copy_(v)


def is_conditional(model: nn.Module) -> bool:
    """Whether a generator or discriminator takes class labels."""
    return hasattr(model, "num_classes")


def shape_text(shape: Shape) -> str:
    """An image shape as it is written: (3, 32, 32) -> "3x32x32"."""
    return "x".join(map(str, shape))


def image_shape_of(generator: nn.Module) -> Shape:
    """The (channels, height, width) a generator makes; a generator of one's own that does not
    say makes Fashion-MNIST's."""
    return tuple(getattr(generator, "image_shape", IMAGE_SHAPE))


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
