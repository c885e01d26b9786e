"""Chapter 08's math: spectral norm written out, the hinge and least-squares losses, R1, and the
SN-GAN kind's settings."""

from __future__ import annotations

import copy
from contextlib import nullcontext

import pytest
import torch
from torch.nn.utils import parametrizations

from gan_helpers.config import TrainConfig
from gan_helpers.kinds import build_discriminator
from gan_helpers.losses import (
    LOSSES,
    hinge_discriminator_loss,
    hinge_generator_loss,
    least_squares_discriminator_loss,
    least_squares_generator_loss,
    r1_penalty,
)
from gan_helpers.models import SNDiscriminator
from gan_helpers.runs import new_run
from gan_helpers.spectral_norm import SpectralNorm, largest_singular_values
from gan_helpers.speed import PenaltyLeakyReLU, fast_layers
from gan_helpers.steps import stabilized_train_step


@pytest.mark.parametrize("shape", [(64, 1, 4, 4), (128, 64, 4, 4), (1, 6272), (40, 30)])
def test_spectral_norm_estimate_converges_to_the_largest_singular_value(shape):
    torch.manual_seed(0)
    weight = torch.randn(shape, dtype=torch.float64)
    norm = SpectralNorm(weight)
    for _ in range(300):  # one power-iteration step per call, as in training
        normalized = norm(weight)
    true = torch.linalg.matrix_norm(weight.flatten(start_dim=1), ord=2)
    assert torch.allclose(weight.flatten()[0] / normalized.flatten()[0], true, rtol=1e-6)
    assert torch.linalg.matrix_norm(normalized.flatten(start_dim=1), ord=2).item() == pytest.approx(
        1, rel=1e-6
    )


def test_spectral_norm_matches_pytorchs_parametrization_step_by_step():
    torch.manual_seed(0)
    layer = parametrizations.spectral_norm(torch.nn.Conv2d(64, 128, 4))
    theirs = layer.parametrizations.weight[0]
    weight = layer.parametrizations.weight.original
    ours = SpectralNorm(weight)
    ours.u.copy_(theirs._u)  # the same starting vectors; from there, the same steps
    ours.v.copy_(theirs._v)
    for _ in range(3):
        assert torch.allclose(ours(weight), layer.weight, atol=1e-7)
    assert torch.allclose(ours.u, theirs._u) and torch.allclose(ours.v, theirs._v)


def test_spectral_norm_holds_still_in_eval_mode_and_passes_gradients_to_the_weight():
    weight = torch.randn(16, 8, requires_grad=True)
    norm = SpectralNorm(weight.detach())
    norm(weight.detach())
    norm.eval()
    u = norm.u.clone()
    norm(weight).sum().backward()
    assert torch.equal(norm.u, u)  # eval mode: no power-iteration step
    assert weight.grad is not None and weight.grad.abs().sum() > 0


def test_the_engines_discriminator_has_every_layer_at_norm_one_with_spectral_norm():
    torch.manual_seed(0)
    with_norm = largest_singular_values(build_discriminator("sngan", spectral_norm=True))
    without = largest_singular_values(build_discriminator("sngan", spectral_norm=False))
    assert with_norm.keys() == without.keys() and len(with_norm) == 3
    # 15 power-iteration steps at the start, as PyTorch's parametrization takes: close, not exact
    assert all(value == pytest.approx(1, abs=0.1) for value in with_norm.values())
    assert not all(value == pytest.approx(1, abs=0.1) for value in without.values())


REAL, FAKE = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])


def values_and_gradients(loss, *logits):
    logits = [x.clone().requires_grad_(True) for x in logits]
    value = loss(*logits)
    value.backward()
    return value.item(), [x.grad.tolist() for x in logits]


def test_hinge_losses_at_known_logits():
    # D: mean(relu(1 - [2, .5])) + mean(relu(1 + [-2, .5])) = 0.25 + 0.75; no gradient past the margin
    assert values_and_gradients(hinge_discriminator_loss, REAL, FAKE) == (1.0, [[0.0, -0.5], [0.0, 0.5]])
    assert values_and_gradients(hinge_generator_loss, FAKE) == (0.75, [[-0.5, -0.5]])


def test_least_squares_losses_at_known_logits():
    # D: ((1 + .25) / 2 + (4 + .25) / 2) / 2; gradients (x - 1) / n on real, x / n on fake
    value, gradients = values_and_gradients(least_squares_discriminator_loss, REAL, FAKE)
    assert value == pytest.approx(1.375) and gradients == [[0.5, -0.25], [-1.0, 0.25]]
    value, gradients = values_and_gradients(least_squares_generator_loss, FAKE)
    assert value == pytest.approx(2.3125) and gradients == [[-1.5, -0.25]]


def test_losses_table_pairs_each_discriminator_loss_with_its_generator_loss():
    assert list(LOSSES) == ["non-saturating", "hinge", "least-squares"]
    assert LOSSES["hinge"] == (hinge_discriminator_loss, hinge_generator_loss)


class Linear(torch.nn.Module):
    def __init__(self, w: torch.Tensor, bias: float = 0.0) -> None:
        super().__init__()
        self.w, self.bias = torch.nn.Parameter(w), bias

    def forward(self, images):
        return images.flatten(1) @ self.w + self.bias


def test_r1_is_zero_for_a_discriminator_flat_on_the_data():
    real = torch.rand(8, 1, 28, 28)
    assert r1_penalty(Linear(torch.zeros(784), bias=3.0), real).item() == 0


def test_r1_of_a_linear_discriminator_is_its_squared_weight_norm():
    w = torch.arange(784, dtype=torch.float32) / 784  # the gradient is w for every image
    penalty = r1_penalty(Linear(w.clone()), torch.rand(8, 1, 28, 28))
    assert penalty.item() == pytest.approx(w.square().sum().item(), rel=1e-6)


def test_r1_is_differentiable_in_the_discriminators_weights():
    discriminator = Linear(torch.ones(784))  # d/dw ||w||^2 = 2w
    r1_penalty(discriminator, torch.rand(4, 1, 28, 28)).backward()
    assert torch.allclose(discriminator.w.grad, 2 * torch.ones(784))


def test_sngan_settings_are_its_own():
    config = TrainConfig.for_model("sngan")
    assert (config.loss, config.spectral_norm, config.r1_weight > 0) == ("hinge", True, True)
    with pytest.raises(ValueError, match="loss = 'hinge': only the sngan model"):
        TrainConfig.for_model("dcgan", loss="hinge")
    with pytest.raises(ValueError, match=r"r1_weight = 1\.0: only the sngan model"):
        TrainConfig.for_model("wgan-gp", r1_weight=1.0)
    with pytest.raises(ValueError, match="generator_loss = 'saturating'"):
        TrainConfig.for_model("sngan", generator_loss="saturating")
    with pytest.raises(ValueError, match="loss = 'wasserstein': must be one of"):
        TrainConfig.for_model("sngan", loss="wasserstein")


def test_spectral_norm_setting_reaches_the_discriminator():
    normed = new_run(TrainConfig.for_model("sngan", device="cpu")).discriminator
    plain = new_run(TrainConfig.for_model("sngan", device="cpu", spectral_norm=False)).discriminator
    assert any("parametrizations" in name for name in normed.state_dict())
    assert not any("parametrizations" in name for name in plain.state_dict())


def test_r1_gives_the_same_discriminator_gradients_with_the_engines_fast_layers():
    run = new_run(TrainConfig.for_model("sngan", device="cpu", seed=3, r1_weight=1.0))
    run.discriminator.eval()  # eval mode: spectral norm takes no power-iteration step between the passes
    real = torch.rand(8, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    gradients = []
    for fast in (False, True):
        with fast_layers(run) if fast else nullcontext():
            swapped = any(isinstance(layer, PenaltyLeakyReLU) for layer in run.discriminator.modules())
            assert swapped == fast  # R1 differentiates a gradient: the constant-slope twin applies
            run.discriminator.zero_grad()
            r1_penalty(run.discriminator, real).backward()
        # None where no path reaches a parameter: the twin leaves out the zero second derivative's
        gradients.append(
            [
                torch.zeros_like(p) if p.grad is None else p.grad.clone()
                for p in run.discriminator.parameters()
            ]
        )
    plain, fast = gradients
    assert sum(bool(a.abs().sum() > 0) for a in plain) >= 3  # every weight has a gradient
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-8) for a, b in zip(plain, fast, strict=True))


def test_the_command_lines_switches_reach_the_config_only_when_given():
    from gan_helpers.cli import build_parser, config_from_args

    args = ["train", "sngan", "--loss", "least-squares", "--no-spectral-norm", "--r1-weight", "1"]
    given = config_from_args(build_parser().parse_args(args))
    assert given == {"loss": "least-squares", "spectral_norm": False, "r1_weight": 1.0}
    assert config_from_args(build_parser().parse_args(["train", "sngan"])) == {}


def test_a_resumed_run_cannot_switch_spectral_norm(tmp_path):
    from gan_helpers.runs import load_run, save_checkpoint

    run = new_run(TrainConfig.for_model("sngan", device="cpu", output_dir=str(tmp_path)))
    path = save_checkpoint(run, tmp_path / "checkpoint.pt")
    with pytest.raises(ValueError, match=r"spectral_norm = True; a resumed run cannot change it to False"):
        load_run(path, spectral_norm=False)
    assert load_run(path).discriminator.state_dict().keys() == run.discriminator.state_dict().keys()


def test_the_seed_fixes_a_spectrally_normalized_discriminator_passed_in():
    config = TrainConfig.for_model("sngan", device="cpu")
    starts = []
    for outside_seed in (1, 2):  # the network is built before new_run seeds the RNG
        torch.manual_seed(outside_seed)
        run = new_run(config, discriminator=SNDiscriminator(spectral_norm=True))
        starts.append(run.discriminator.state_dict())
    assert all(torch.equal(a, b) for a, b in zip(starts[0].values(), starts[1].values(), strict=True))
    assert any(name.endswith("_u") for name in starts[0])  # the singular-vector estimates too
    assert all(v == pytest.approx(1, abs=0.1) for v in largest_singular_values(run.discriminator).values())


def test_the_step_uses_the_configs_loss_pair_and_half_gamma_times_r1():
    config = TrainConfig.for_model("sngan", device="cpu", loss="least-squares", spectral_norm=False,
                                   r1_weight=2.0, batch_size=8)  # fmt: skip
    w = torch.randn(784) / 28
    run = new_run(config, discriminator=Linear(w.clone()))
    generator, real = copy.deepcopy(run.generator), torch.rand(8, 1, 28, 28) * 2 - 1
    torch.manual_seed(5)
    metrics = stabilized_train_step(run, real, torch.zeros(8, dtype=torch.long))
    torch.manual_seed(5)  # the same noise, through the generator as it was before the step
    fake = generator(torch.randn(8, config.latent_dim))
    discriminator = Linear(w)
    objective = least_squares_discriminator_loss(discriminator(real), discriminator(fake))
    assert metrics["r1"].item() == pytest.approx(w.square().sum().item(), rel=1e-5)
    assert metrics["loss_d"].item() == pytest.approx(objective.item() + 1.0 * metrics["r1"].item(), rel=1e-5)
