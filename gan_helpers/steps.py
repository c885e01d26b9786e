"""Chapters 02, 04, 06 and 08: the training steps, written out plainly, one update of each
player per objective.

These are the code of chapters 02 (``gan_step``), 04 (``critic_step``, ``generator_step``, the
n_critic schedule ``wgan_gp_train_step``), 06 (``conditional_train_step``) and 08
(``stabilized_step``: any loss pair of ``LOSSES``, plus the R1 penalty): the notebooks
define them in their cells and ``tools/export_code.py --check`` keeps the two identical. A step
``step(run, real, labels) -> metrics`` reports ``loss_g`` exactly when it moved the generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import torch
from torch import nn
from torch.optim import Optimizer

from gan_helpers.losses import (
    GENERATOR_LOSSES,
    LOSSES,
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    r1_penalty,
    wasserstein_generator_loss,
)


class Run(Protocol):
    """What the engine's steps read of a training run (``gan_helpers.runs.Run`` is one): both
    players and their optimizers, the settings, and how many batches were trained so far."""

    generator: nn.Module
    discriminator: nn.Module
    opt_g: Optimizer
    opt_d: Optimizer
    config: Any  # a TrainConfig: generator_loss, n_critic, gp_weight, loss, r1_weight
    step: int


Step = Callable[[Run, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]


@contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Skip the weight gradients of ``model`` while it only passes gradients through.

    In the generator's update the discriminator's own gradients would be computed and thrown
    away; freezing it saves that work and changes no number.
    """
    model.requires_grad_(False)
    try:
        yield model
    finally:
        model.requires_grad_(True)


def gan_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: Optimizer,
    opt_d: Optimizer,
    real: torch.Tensor,
    labels: torch.Tensor | None = None,
    objective: Callable[[torch.Tensor], torch.Tensor] = generator_loss,
) -> dict[str, torch.Tensor]:
    """One discriminator update, then one generator update that minimises ``objective``.

    ``labels`` (chapter 06) go to both networks: the fakes are drawn for the real batch's
    classes, so the discriminator compares like with like. Metrics stay on the device.
    """
    condition = () if labels is None else (labels,)
    z = torch.randn(real.size(0), generator.latent_dim, device=real.device)
    fake = generator(z, *condition)

    logits_real = discriminator(real, *condition)
    logits_fake = discriminator(fake.detach(), *condition)  # detach: D's update must not move G
    loss_d = discriminator_loss(logits_real, logits_fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    with frozen(discriminator):
        loss_g = objective(discriminator(fake, *condition))  # D just changed: score the fakes again
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    opt_g.step()

    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "d_real": torch.sigmoid(logits_real.detach()).mean(),
        "d_fake": torch.sigmoid(logits_fake.detach()).mean(),
    }


def gan_train_step(run: Run, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The engine's step for the MLP GAN and the DCGAN: a ``gan_step`` on the run's networks."""
    return gan_step(
        run.generator, run.discriminator, run.opt_g, run.opt_d, real,
        objective=GENERATOR_LOSSES[run.config.generator_loss],
    )  # fmt: skip


def conditional_train_step(run: Run, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The engine's step for the conditional GAN: both networks are told each image's class."""
    return gan_step(run.generator, run.discriminator, run.opt_g, run.opt_d, real, labels)


def critic_step(
    generator: nn.Module, critic: nn.Module, opt_c: Optimizer, real: torch.Tensor, gp_weight: float
) -> dict[str, torch.Tensor]:
    """One critic update: the Wasserstein loss plus ``gp_weight`` times the gradient penalty."""
    z = torch.randn(real.size(0), generator.latent_dim, device=real.device)
    with torch.no_grad():  # the critic's update needs no gradient through the generator
        fake = generator(z)
    scores_real, scores_fake = critic(real), critic(fake)
    penalty = gradient_penalty(critic, real, fake)
    loss_d = critic_loss(scores_real, scores_fake) + gp_weight * penalty
    opt_c.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_c.step()
    return {
        "loss_d": loss_d.detach(),
        "wasserstein": (scores_real.mean() - scores_fake.mean()).detach(),  # the critic's estimate
        "gp": penalty.detach(),
    }


def generator_step(
    generator: nn.Module, critic: nn.Module, opt_g: Optimizer, batch_size: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """One generator update against the current critic, which stays fixed."""
    z = torch.randn(batch_size, generator.latent_dim, device=device)
    with frozen(critic):
        loss_g = wasserstein_generator_loss(critic(generator(z)))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    opt_g.step()
    return {"loss_g": loss_g.detach()}


def wgan_gp_train_step(run: Run, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The n_critic schedule: a critic update every batch, a generator update every n_critic-th."""
    metrics = critic_step(run.generator, run.discriminator, run.opt_d, real, run.config.gp_weight)
    if (run.step + 1) % run.config.n_critic == 0:
        metrics |= generator_step(run.generator, run.discriminator, run.opt_g, real.size(0), real.device)
    return metrics


def stabilized_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: Optimizer,
    opt_d: Optimizer,
    real: torch.Tensor,
    losses: tuple[Callable, Callable] = LOSSES["hinge"],
    r1_weight: float = 0.0,
) -> dict[str, torch.Tensor]:
    """``gan_step`` with a choice of loss pair (discriminator's, generator's) and the R1 penalty,
    weighted ``r1_weight / 2`` as in Mescheder et al. (2018), added to the discriminator's loss."""
    discriminator_objective, generator_objective = losses
    z = torch.randn(real.size(0), generator.latent_dim, device=real.device)
    fake = generator(z)

    logits_real = discriminator(real)
    logits_fake = discriminator(fake.detach())
    penalty = r1_penalty(discriminator, real) if r1_weight > 0 else torch.zeros((), device=real.device)
    loss_d = discriminator_objective(logits_real, logits_fake) + r1_weight / 2 * penalty
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()

    with frozen(discriminator):
        loss_g = generator_objective(discriminator(fake))
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
    opt_g.step()

    return {
        "loss_d": loss_d.detach(),
        "loss_g": loss_g.detach(),
        "logit_real": logits_real.detach().mean(),  # raw scores: a hinge loss's are not probabilities
        "logit_fake": logits_fake.detach().mean(),
        "r1": penalty.detach(),
    }


def stabilized_train_step(run: Run, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """The engine's step for chapter 08's model: the config's loss pair and R1 weight."""
    return stabilized_step(
        run.generator, run.discriminator, run.opt_g, run.opt_d, real,
        LOSSES[run.config.loss], run.config.r1_weight,
    )  # fmt: skip
