"""Losses against hand-computed values, and the gradient penalty's traps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_helpers import losses


def test_discriminator_loss_matches_hand_computation():
    logits_real, logits_fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(sigmoid(2)) + math.log(sigmoid(0))) / 2
    expected += -(math.log(1 - sigmoid(-1)) + math.log(1 - sigmoid(1))) / 2
    assert losses.discriminator_loss(logits_real, logits_fake).item() == pytest.approx(expected)


def test_generator_loss_is_non_saturating():
    logits = torch.tensor([-3.0, 0.5])
    expected = -(math.log(1 / (1 + math.exp(3))) + math.log(1 / (1 + math.exp(-0.5)))) / 2
    assert losses.generator_loss(logits).item() == pytest.approx(expected)
    confident_fake = torch.tensor([-20.0], requires_grad=True)
    losses.generator_loss(confident_fake).backward()
    assert confident_fake.grad.abs().item() > 0.99  # still a strong gradient when D wins


def test_losses_are_stable_for_extreme_logits():
    extreme = torch.tensor([1000.0, -1000.0])
    assert torch.isfinite(losses.discriminator_loss(extreme, -extreme))
    assert torch.isfinite(losses.generator_loss(-extreme))


def test_wasserstein_losses():
    real, fake = torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])
    assert losses.critic_loss(real, fake).item() == pytest.approx(0.0 - 2.0)
    assert losses.wasserstein_generator_loss(fake).item() == pytest.approx(0.0)


class Linear(nn.Module):
    """C(x) = <w, x>: its gradient is w everywhere, so the norm is |w| for every sample."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w.flatten()).sum(1)


def test_penalty_is_zero_for_a_1_lipschitz_critic():
    w = torch.randn(1, 4, 4)
    critic = Linear(w / w.norm())  # gradient norm exactly 1
    real, fake = torch.randn(16, 1, 4, 4), torch.randn(16, 1, 4, 4)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(0.0, abs=1e-10)


def test_penalty_for_a_steeper_critic_is_the_squared_excess():
    w = torch.randn(1, 4, 4)
    critic = Linear(3 * w / w.norm())  # norm 3 everywhere: penalty (3 - 1)^2 = 4
    real, fake = torch.randn(16, 1, 4, 4), torch.randn(16, 1, 4, 4)
    assert losses.gradient_penalty(critic, real, fake).item() == pytest.approx(4.0, rel=1e-5)


def test_penalty_norm_is_per_sample_over_all_pixels():
    """C(x) = sum(x^2)/2 has gradient x, so the penalty is mean((|x_hat_i| - 1)^2) per sample."""

    class Square(nn.Module):
        def forward(self, x):
            return (x**2).flatten(1).sum(1) / 2

    real = torch.zeros(3, 1, 2, 2)
    real[0] += 0.5  # |x| = 1 (4 pixels of 0.5)
    real[1] += 1.0  # |x| = 2
    real[2] += 0.0  # |x| = 0
    penalty = losses.gradient_penalty(Square(), real, real.clone())  # x_hat = real whatever alpha
    assert penalty.item() == pytest.approx(((1 - 1) ** 2 + (2 - 1) ** 2 + (0 - 1) ** 2) / 3)


def test_interpolation_weight_is_uniform_once_per_sample(monkeypatch):
    seen = []
    original = torch.rand

    def spy(*size, **kwargs):
        alpha = original(*size, **kwargs)
        seen.append(alpha)
        return alpha

    monkeypatch.setattr(torch, "rand", spy)
    real, fake = torch.ones(4096, 1, 4, 4), torch.zeros(4096, 1, 4, 4)
    mixes = []

    class Recorder(nn.Module):
        def forward(self, x):
            mixes.append(x.detach())
            return x.flatten(1).sum(1)

    losses.gradient_penalty(Recorder(), real, fake)
    (alpha,) = seen
    assert alpha.shape == (4096, 1, 1, 1)  # one weight per sample, not per pixel
    mix = mixes[0]
    assert torch.equal(mix, mix[:, :, :1, :1].expand_as(mix))  # same weight for every pixel
    assert alpha.min() >= 0 and alpha.max() <= 1  # uniform on [0, 1], not normal
    assert alpha.mean().item() == pytest.approx(0.5, abs=0.02)
    assert alpha.var().item() == pytest.approx(1 / 12, abs=0.01)


def test_penalty_is_differentiable_and_checks_shapes():
    critic = nn.Sequential(nn.Flatten(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 1))
    penalty = losses.gradient_penalty(critic, torch.randn(4, 1, 4, 4), torch.randn(4, 1, 4, 4))
    penalty.backward()
    assert critic[1].weight.grad.abs().sum() > 0  # double backward reaches the weights
    with pytest.raises(ValueError, match="differ in shape"):
        losses.gradient_penalty(critic, torch.randn(4, 1, 4, 4), torch.randn(3, 1, 4, 4))
