"""Chapters 02, 04 and 08: what each player minimises. The GAN losses (chapter 02), the
Wasserstein losses and the gradient penalty (chapter 04), the hinge and least-squares losses
and the R1 penalty (chapter 08). Each takes raw scores (logits) and returns a scalar tensor.
``GENERATOR_LOSSES`` names the generator's choices (chapters 02 and 07), ``LOSSES`` the pairs of
chapter 08's model: the config, the command line and the panels read them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


def discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """-log D(x) - log(1 - D(G(z))), averaged: label real images 1 and fakes 0."""
    loss_real = F.binary_cross_entropy_with_logits(logits_real, torch.ones_like(logits_real))
    loss_fake = F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))
    return loss_real + loss_fake


def generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating -log D(G(z)): strong gradients even when D easily spots the fakes."""
    return F.binary_cross_entropy_with_logits(logits_fake, torch.ones_like(logits_fake))


def saturating_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """The minimax game's log(1 - D(G(z))): its gradient vanishes when D easily spots the fakes."""
    return -F.binary_cross_entropy_with_logits(logits_fake, torch.zeros_like(logits_fake))


GENERATOR_LOSSES = {"non-saturating": generator_loss, "saturating": saturating_generator_loss}

NON_SATURATING = "non-saturating"  # the default of every setting that picks a loss (a key of both tables)


def critic_loss(scores_real: torch.Tensor, scores_fake: torch.Tensor) -> torch.Tensor:
    """E[C(G(z))] - E[C(x)]: minimising it widens the critic's real-fake gap."""
    return scores_fake.mean() - scores_real.mean()


def wasserstein_generator_loss(scores_fake: torch.Tensor) -> torch.Tensor:
    """-E[C(G(z))]: the generator raises the critic's score of its images."""
    return -scores_fake.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """E[(||grad C(x_hat)||_2 - 1)^2] on random points x_hat between real and fake images.

    One interpolation weight per image, uniform on [0, 1]; the norm is taken per image over
    all its pixels. ``create_graph=True`` lets the penalty itself be differentiated.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} differ in shape")
    alpha = torch.rand(real.size(0), *([1] * (real.dim() - 1)), device=real.device)
    mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.sum(), mixed, create_graph=True)
    norms = grad.flatten(start_dim=1).norm(2, dim=1)
    return ((norms - 1) ** 2).mean()


def hinge_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]: no push beyond a margin of 1 either way."""
    return F.relu(1 - logits_real).mean() + F.relu(1 + logits_fake).mean()


def hinge_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """-E[D(G(z))]: the generator raises the score of its images, with no margin."""
    return -logits_fake.mean()


def least_squares_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """(E[(D(x) - 1)^2] + E[D(G(z))^2]) / 2: scores pulled to 1 for real images, to 0 for fakes."""
    return ((logits_real - 1) ** 2).mean() / 2 + (logits_fake**2).mean() / 2


def least_squares_generator_loss(logits_fake: torch.Tensor) -> torch.Tensor:
    """E[(D(G(z)) - 1)^2] / 2: a pull that grows with the distance from "real", never vanishing."""
    return ((logits_fake - 1) ** 2).mean() / 2


LOSSES = {
    "non-saturating": (discriminator_loss, generator_loss),
    "hinge": (hinge_discriminator_loss, hinge_generator_loss),
    "least-squares": (least_squares_discriminator_loss, least_squares_generator_loss),
}


def r1_penalty(discriminator: nn.Module, real: torch.Tensor) -> torch.Tensor:
    """E[||grad D(x)||^2] on the real images only: zero-centred, so D is pushed flat on the data.

    Unlike chapter 04's penalty there are no interpolates and no target norm of 1: the
    discriminator may be steep between real and fake images, only not on the real ones.
    """
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(discriminator(real).sum(), real, create_graph=True)
    return grad.flatten(start_dim=1).pow(2).sum(dim=1).mean()
