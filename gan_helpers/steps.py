"""One training step per objective. Each returns its metrics as detached tensors (no host sync)."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.optim import Optimizer

from gan_helpers.losses import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    wasserstein_generator_loss,
)


@contextmanager
def frozen(model: nn.Module):
    """Skip the weight gradients of ``model`` while it only passes gradients through.

    In the generator's update the discriminator's own gradients would be computed and thrown
    away; freezing it saves that work (about a sixth of a DCGAN step) and changes no number.
    """
    model.requires_grad_(False)
    try:
        yield model
    finally:
        model.requires_grad_(True)


def sample_noise(count: int, latent_dim: int, device: torch.device | str) -> torch.Tensor:
    """Standard normal noise vectors z, one row per image."""
    return torch.randn(count, latent_dim, device=device)


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: Optimizer,
    opt_d: Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """One discriminator update then one generator update, with the non-saturating loss.

    With ``labels`` (a conditional GAN) both networks see them: the fakes are drawn for the
    real batch's classes, so D compares like with like.
    """
    condition = () if labels is None else (labels,)
    z = sample_noise(real.size(0), generator.latent_dim, real.device)
    fake = generator(z, *condition)

    logits_real = discriminator(real, *condition)
    logits_fake = discriminator(fake.detach(), *condition)  # no gradient into G while D learns
    loss_d = discriminator_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    with frozen(discriminator):
        logits_fake_for_g = discriminator(fake, *condition)  # D just changed: score the fakes again
        loss_g = generator_loss(logits_fake_for_g)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    opt_g.step()

    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": torch.sigmoid(logits_real.detach()).mean(),
        "d_fake": torch.sigmoid(logits_fake.detach()).mean(),
    }


def critic_step(
    generator: nn.Module,
    critic: nn.Module,
    opt_c: Optimizer,
    real: torch.Tensor,
    gp_weight: float,
) -> dict[str, torch.Tensor]:
    """One critic update: Wasserstein loss plus ``gp_weight`` times the gradient penalty."""
    z = sample_noise(real.size(0), generator.latent_dim, real.device)
    with torch.no_grad():
        fake = generator(z)
    scores_real = critic(real)
    scores_fake = critic(fake)
    penalty = gradient_penalty(critic, real, fake)
    loss_d = critic_loss(scores_real, scores_fake) + gp_weight * penalty
    opt_c.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_c.step()
    return {
        "loss_d": loss_d.detach(),
        "wasserstein": (scores_real.mean() - scores_fake.mean()).detach(),
        "gp": penalty.detach(),
    }


def wasserstein_generator_step(
    generator: nn.Module, critic: nn.Module, opt_g: Optimizer, batch_size: int, device
) -> dict[str, torch.Tensor]:
    """One generator update against a fixed critic."""
    z = sample_noise(batch_size, generator.latent_dim, device)
    with frozen(critic):
        loss_g = wasserstein_generator_loss(critic(generator(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    opt_g.step()
    return {"loss_g": loss_g.detach()}
