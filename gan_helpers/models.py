"""The GANs of the course: MLP GAN (02), DCGAN (03), WGAN-GP (04) and conditional GAN (06).

Every discriminator and critic returns one raw score per image (a logit for the GANs,
an unbounded value for the critic); losses apply the sigmoid themselves, which is
numerically safer than a Sigmoid layer followed by BCELoss.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
MODEL_KINDS = ("mlp", "dcgan", "wgan-gp", "cgan")
CONDITIONAL_KINDS = ("cgan",)  # models that take a class label next to the noise or image
UNCONDITIONAL_KINDS = tuple(kind for kind in MODEL_KINDS if kind not in CONDITIONAL_KINDS)


class MLPGenerator(nn.Module):
    """Noise -> four fully connected layers -> 784 pixels in [-1, 1]."""

    def __init__(self, latent_dim: int = 100) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256),
            nn.LeakyReLU(0.2),
            nn.Linear(256, 512, bias=False),
            nn.BatchNorm1d(512),
            nn.LeakyReLU(0.2),
            nn.Linear(512, 1024, bias=False),
            nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2),
            nn.Linear(1024, 28 * 28),
            nn.Tanh(),
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
            nn.Linear(256, 1),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class DCGANGenerator(nn.Module):
    """Noise -> linear projection to 128x7x7 -> two transposed convolutions -> 1x28x28.

    On the CPU the 7x7 maps go into the transposed convolutions in NHWC layout, which oneDNN runs
    faster (forward 26 -> 19 ms at batch 128 here); the numbers are the same.
    """

    nhwc_on_cpu = True  # benchmarks/reference.py turns it off to time the textbook layout

    def __init__(self, latent_dim: int = 100, width: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.project = nn.Sequential(
            nn.Linear(latent_dim, 2 * width * 7 * 7, bias=False),
            nn.BatchNorm1d(2 * width * 7 * 7),
            nn.ReLU(),
            nn.Unflatten(1, (2 * width, 7, 7)),
        )
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(2 * width, width, 4, stride=2, padding=1, bias=False),  # 14x14
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, 1, 4, stride=2, padding=1),  # 28x28
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        features = self.project(z)
        if self.nhwc_on_cpu and features.device.type == "cpu":
            features = features.contiguous(memory_format=torch.channels_last)
        return self.upsample(features)


class Dropout(nn.Dropout):
    """``nn.Dropout`` with a mask that is cheap to draw on the CPU and independent of memory layout.

    ``nn.Dropout`` draws one Bernoulli number at a time on the CPU, which took a third of a DCGAN
    step. Here one 64-bit random integer gives four 16-bit ones, each compared with a threshold:
    the drop probability is ``p`` rounded to a multiple of 1/65536 (0.3 becomes 0.300003). The
    mask follows the logical index, so a channels-last input drops the same elements. Other
    devices keep the fused ``nn.Dropout`` kernel.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if x.device.type != "cpu" or self.p == 1:
            return super().forward(x)
        return x.mul(1 / (1 - self.p)).mul_(keep_mask(x.shape, self.p))


def keep_mask(shape: torch.Size, p: float) -> torch.Tensor:
    """A boolean tensor of ``shape``: True with probability 1 - p (p in steps of 1/65536)."""
    count = shape.numel()
    words = torch.randint(-(2**63), 2**63 - 1, ((count + 3) // 4,), dtype=torch.int64)
    halves = words.view(torch.int16)[:count].view(shape)  # uniform on -32768..32767
    return halves >= round(p * 65536) - 32768


class PenaltyLeakyReLU(nn.LeakyReLU):
    """``nn.LeakyReLU`` for a critic under a gradient penalty: same values, same gradients.

    The penalty differentiates the critic's gradient once more. A leaky ReLU's second derivative
    is zero, yet the built-in one still sends a tensor of zeros back through the layers below it:
    a wasted backward pass of the critic's largest convolution in every step. Here the slope
    mask counts as a constant, so autograd has no second-order path to follow.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LeakyReLUWithConstantSlope.apply(x, self.negative_slope)


class _LeakyReLUWithConstantSlope(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, negative_slope: float) -> torch.Tensor:
        ctx.save_for_backward(x)
        ctx.negative_slope = negative_slope
        return F.leaky_relu(x, negative_slope)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors  # detached below: the slope depends on x only through its sign
        return torch.ops.aten.leaky_relu_backward(grad, x.detach(), ctx.negative_slope, False), None


def conv_features(width: int, dropout: float, activation: type[nn.Module] = nn.LeakyReLU) -> list[nn.Module]:
    """Two strided convolutions with LeakyReLU (and dropout): 1x28x28 -> a 2*width*7*7 vector."""
    drop = Dropout(dropout) if dropout > 0 else nn.Identity()  # Identity keeps layer numbers
    return [
        nn.Conv2d(1, width, 4, stride=2, padding=1),  # 14x14
        activation(0.2),
        drop,
        nn.Conv2d(width, 2 * width, 4, stride=2, padding=1),  # 7x7
        activation(0.2),
        drop,
        nn.Flatten(),
    ]


class DCGANDiscriminator(nn.Module):
    """Strided convolutions with LeakyReLU (and dropout) -> one score per image."""

    def __init__(self, width: int = 64, dropout: float = 0.3, activation: type = nn.LeakyReLU) -> None:
        super().__init__()
        self.net = nn.Sequential(*conv_features(width, dropout, activation), nn.Linear(2 * width * 7 * 7, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


class Critic(DCGANDiscriminator):
    """The WGAN-GP critic: the DCGAN discriminator without dropout, and never batch norm.

    Batch norm mixes the images of a batch, so the critic's gradient for one image would
    depend on the others, and the per-sample gradient penalty would no longer mean anything.
    Its activations skip the zero second derivative (``PenaltyLeakyReLU``).
    """

    def __init__(self, width: int = 64) -> None:
        super().__init__(width=width, dropout=0.0, activation=PenaltyLeakyReLU)


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
    by how far its features point that way. Cheaper and stronger than joining the label to
    the input, because the label acts where the features already mean something.
    """

    def __init__(self, num_classes: int = 10, width: int = 64, dropout: float = 0.3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(*conv_features(width, dropout))
        self.score = nn.Linear(2 * width * 7 * 7, 1)
        self.embed = nn.Embedding(num_classes, 2 * width * 7 * 7)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        h = self.features(images)
        return self.score(h).flatten() + (self.embed(labels) * h).sum(dim=1)


def init_weights(module: nn.Module) -> None:
    """DCGAN-paper initialisation: N(0, 0.02) weights, N(1, 0.02) batch-norm scales."""
    if isinstance(module, nn.Embedding):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_generator(kind: str, latent_dim: int = 100, num_classes: int = 10) -> nn.Module:
    """The generator for a model kind, initialised (``num_classes`` matters for cgan only)."""
    check_kind(kind)
    if kind == "cgan":
        generator = ConditionalGenerator(latent_dim, num_classes)
    else:
        generator = MLPGenerator(latent_dim) if kind == "mlp" else DCGANGenerator(latent_dim)
    generator.apply(init_weights)
    return generator


def build_discriminator(kind: str, num_classes: int = 10) -> nn.Module:
    """The discriminator (or, for WGAN-GP, the critic) for a model kind, initialised."""
    check_kind(kind)
    if kind == "cgan":
        discriminator = ProjectionDiscriminator(num_classes)
    else:
        discriminator = {"mlp": MLPDiscriminator, "dcgan": DCGANDiscriminator, "wgan-gp": Critic}[kind]()
    discriminator.apply(init_weights)
    return discriminator


def is_conditional(model: nn.Module) -> bool:
    """Whether a generator or discriminator takes class labels."""
    return hasattr(model, "num_classes")


def check_kind(kind: str) -> None:
    """Raise a ValueError naming the valid kinds if ``kind`` is not one of them."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind {kind!r} is unknown; choose one of {', '.join(MODEL_KINDS)}")


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def predict_proba(discriminator: nn.Module, images: torch.Tensor, *labels: torch.Tensor) -> torch.Tensor:
    """The discriminator's probability that each image is real (for ``labels``, if conditional)."""
    return torch.sigmoid(discriminator(images, *labels))
