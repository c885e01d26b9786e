"""Every fast path of the engine trains like the plain path, within tolerance, on the CPU."""

from __future__ import annotations

import copy
from contextlib import contextmanager, nullcontext

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from gan_helpers import speed
from gan_helpers.config import TrainConfig
from gan_helpers.kinds import build_discriminator, build_generator
from gan_helpers.losses import critic_loss, gradient_penalty
from gan_helpers.runs import new_run
from gan_helpers.speed import CudaGraphStep, FastDropout, PenaltyLeakyReLU, fast_layers
from gan_helpers.steps import frozen, gan_step
from gan_helpers.training import make_step
from tests.helpers import assert_close_runs, losses_and_weights


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "cgan", "sngan"])
def test_channels_last_trains_like_the_default_layout(model):
    plain = losses_and_weights(model, channels_last=False)
    assert_close_runs(plain, losses_and_weights(model, channels_last=True), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "sngan"])
def test_bfloat16_autocast_stays_within_tolerance(model):
    plain = losses_and_weights(model, channels_last=False)
    assert_close_runs(plain, losses_and_weights(model, amp=True), rtol=5e-2, atol=2e-2)


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "sngan"])
def test_compiled_networks_train_like_eager_ones(model, monkeypatch):
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "eager")  # graph capture without codegen: fast
    plain = losses_and_weights(model)
    compiled = losses_and_weights(model, compile=True)
    assert compiled[1].keys() == plain[1].keys()  # checkpoints stay loadable either way
    assert_close_runs(plain, compiled, rtol=1e-5, atol=1e-6)


def test_a_compiled_spectrally_normalized_discriminator_trains_like_an_eager_one(monkeypatch):
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "eager")
    no_penalty = {"r1_weight": 0.0}  # with R1 the discriminator stays eager: this compiles it
    plain = losses_and_weights("sngan", **no_penalty)
    assert_close_runs(plain, losses_and_weights("sngan", compile=True, **no_penalty), rtol=1e-5, atol=1e-6)


def textbook_gan_step(generator, discriminator, opt_g, opt_d, real):
    """The usual loop body, without freezing D in the generator's update."""
    fake = generator(torch.randn(real.size(0), generator.latent_dim))
    ones, zeros = torch.ones(real.size(0)), torch.zeros(real.size(0))
    loss_d = F.binary_cross_entropy_with_logits(discriminator(real), ones)
    loss_d = loss_d + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), zeros)
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    loss_g = F.binary_cross_entropy_with_logits(discriminator(fake), ones)
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()


def test_freezing_the_discriminator_changes_no_number():
    results = []
    for step in (gan_step, textbook_gan_step):
        torch.manual_seed(0)
        generator, discriminator = build_generator("dcgan"), build_discriminator("dcgan")
        opt_g, opt_d = (torch.optim.Adam(m.parameters(), 2e-4) for m in (generator, discriminator))
        for _ in range(2):
            step(generator, discriminator, opt_g, opt_d, torch.rand(8, 1, 28, 28) * 2 - 1)
        results.append((generator.state_dict(), discriminator.state_dict()))
    for ours, textbook in zip(results[0], results[1], strict=True):
        for name, value in ours.items():
            assert torch.equal(value, textbook[name]), name
    assert all(p.requires_grad for p in discriminator.parameters())


def test_frozen_restores_gradients_even_after_an_error():
    discriminator = build_discriminator("dcgan")
    with pytest.raises(RuntimeError), frozen(discriminator):
        assert not any(p.requires_grad for p in discriminator.parameters())
        raise RuntimeError("boom")
    assert all(p.requires_grad for p in discriminator.parameters())


@pytest.mark.parametrize("model", ["dcgan", "cgan"])
def test_generator_runs_nhwc_on_the_cpu_with_the_same_images_and_gradients(model):
    run = new_run(TrainConfig.for_model(model, device="cpu"))
    generator = run.generator
    inputs = (torch.randn(8, 100), torch.arange(8))[: 1 + (model == "cgan")]
    layouts, results = [], []
    for fast in (False, True):
        with fast_layers(run) if fast else nullcontext():
            handle = generator.upsample[0].register_forward_pre_hook(  # runs after fast_layers' hook
                lambda _, args: layouts.append(args[0].is_contiguous(memory_format=torch.channels_last))
            )
            generator.zero_grad()
            images = generator(*inputs)
            images.square().mean().backward()
            results.append((images.detach(), [p.grad.clone() for p in generator.parameters()]))
            handle.remove()
    assert layouts == [False, True]
    assert torch.allclose(results[0][0], results[1][0], atol=1e-6)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(results[0][1], results[1][1], strict=True))


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "cgan", "sngan"])
def test_fast_layers_are_swapped_in_while_training_and_back_after(model):
    run = new_run(TrainConfig.for_model(model, device="cpu"))
    plain = {name: type(layer) for name, layer in run.discriminator.named_modules()}
    keys = list(run.discriminator.state_dict())
    with fast_layers(run):
        inside = {name: type(layer) for name, layer in run.discriminator.named_modules()}
        assert list(run.discriminator.state_dict()) == keys  # checkpoints are the same either way
        run.discriminator.eval()
    swapped = {name: kind.__name__ for name, kind in inside.items() if plain[name] is not kind}
    expected = "PenaltyLeakyReLU" if model in ("wgan-gp", "sngan") else "FastDropout"  # sngan: R1
    assert swapped and set(swapped.values()) == {expected}
    assert {name: type(layer) for name, layer in run.discriminator.named_modules()} == plain
    assert not run.discriminator.training  # the mode set inside is kept
    assert "Fast" not in repr(run.discriminator) and "Penalty" not in repr(run.discriminator)


def test_dropout_drops_a_share_p_whatever_the_layout():
    x = torch.randn(64, 8, 14, 14) + 5  # no zeros of its own
    dropout = FastDropout(0.3)
    torch.manual_seed(1)
    out = dropout(x)
    torch.manual_seed(1)
    assert torch.equal(out, dropout(x.contiguous(memory_format=torch.channels_last)))  # same elements
    kept = out != 0
    assert abs(1 - kept.float().mean().item() - 0.3) < 0.005  # 100,352 draws: 4 standard deviations
    assert torch.allclose(out[kept], x[kept] / 0.7)  # survivors scaled so the mean is unchanged
    assert not torch.equal(out, dropout(x))  # a fresh mask each call
    assert dropout.eval()(x) is x and FastDropout(0.0)(x) is x


def test_fast_path_flags_are_validated():
    with pytest.raises(ValueError, match="channels_last"):
        TrainConfig(channels_last="yes")
    with pytest.raises(ValueError, match="cuda_graphs"):
        TrainConfig(cuda_graphs=1)


def test_a_failed_cuda_graph_capture_says_how_to_train_without(monkeypatch):
    @contextmanager
    def failing_capture(graph):
        yield
        raise RuntimeError("operation not permitted when stream is capturing")

    monkeypatch.setattr(torch.cuda, "CUDAGraph", lambda: None)
    monkeypatch.setattr(torch.cuda, "graph", failing_capture)
    step = CudaGraphStep(lambda real, labels: {"loss_d": real.sum()})
    step.real, step.labels = torch.ones(2), torch.zeros(2)
    with pytest.raises(RuntimeError, match=r"not permitted .*cuda_graphs=False\), or --no-cuda-graphs"):
        step._capture()


def test_cuda_graphs_are_left_out_off_cuda():
    run = new_run(TrainConfig.for_model("dcgan", device="cpu", cuda_graphs=True))
    assert not isinstance(make_step(run), CudaGraphStep)  # it would fail at its first CUDA call


def critic_update(critic: torch.nn.Module) -> tuple[torch.Tensor, list[torch.Tensor], int]:
    """Loss, weight gradients and the number of convolution backward passes of one critic update."""
    data = torch.Generator().manual_seed(0)
    real, fake = (torch.rand(8, 1, 28, 28, generator=data) * 2 - 1 for _ in range(2))
    torch.manual_seed(0)  # the same interpolation weights for both critics
    with torch.profiler.profile() as profile:
        loss = critic_loss(critic(real), critic(fake)) + 10 * gradient_penalty(critic, real, fake)
        loss.backward()
    passes = sum(e.count for e in profile.key_averages() if e.key == "aten::convolution_backward")
    return loss.detach(), [p.grad for p in critic.parameters()], passes


def test_penalty_leaky_relu_gives_the_same_update_with_one_backward_pass_less():
    textbook = build_discriminator("wgan-gp")  # plain nn.LeakyReLU
    critic = copy.deepcopy(textbook)
    for index, layer in enumerate(critic.net):
        if isinstance(layer, torch.nn.LeakyReLU):
            critic.net[index] = PenaltyLeakyReLU(layer.negative_slope)
    loss, grads, passes = critic_update(critic)
    textbook_loss, textbook_grads, textbook_passes = critic_update(textbook)
    assert torch.equal(loss, textbook_loss)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(grads, textbook_grads, strict=True))
    assert passes == textbook_passes - 1  # the zeros sent back through the 7x7 convolution are gone


def test_penalty_leaky_relu_has_correct_first_and_second_derivatives():
    x = (torch.rand(20, dtype=torch.float64) + 0.1) * torch.tensor([1.0, -1.0]).repeat(10)  # away from 0
    x.requires_grad_(True)
    layer = PenaltyLeakyReLU(0.2)
    assert torch.autograd.gradcheck(layer, (x,)) and torch.autograd.gradgradcheck(layer, (x,))
    assert torch.equal(layer(x), F.leaky_relu(x, 0.2))
