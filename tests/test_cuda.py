"""CUDA graphs and compiled code train like the plain step. They need a GPU: run them where there is one.

CI has no GPU, so there they are skipped; benchmarks/README.md records the last GPU run.
"""

from __future__ import annotations

import pytest
import torch

from gan_helpers.config import TrainConfig
from gan_helpers.runs import load_run, new_run, save_checkpoint
from gan_helpers.speed import WARMUP_CALLS, CudaGraphStep
from gan_helpers.training import make_step
from tests.helpers import assert_close_runs, losses_and_weights

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
STEPS = 4 * WARMUP_CALLS + 4  # warm-up, capture and replays of both WGAN-GP phases (n_critic=2)


@pytest.fixture
def exact_kernels():
    """Float32 without TF32, deterministic cuDNN: the same arithmetic on each run of a step."""
    flags = (torch.backends.cudnn, "deterministic", True), (torch.backends.cudnn, "benchmark", False)
    flags += (torch.backends.cudnn, "allow_tf32", False), (torch.backends.cuda.matmul, "allow_tf32", False)
    saved = [getattr(module, name) for module, name, _ in flags]
    for module, name, value in flags:
        setattr(module, name, value)
    yield
    for (module, name, _), value in zip(flags, saved, strict=True):
        setattr(module, name, value)


@pytest.mark.parametrize("model", ["mlp", "dcgan", "wgan-gp", "cgan", "sngan"])
def test_cuda_graphs_train_like_kernels_launched_one_by_one(model, exact_kernels):
    plain = losses_and_weights(model, "cuda", STEPS, cuda_graphs=False)
    graphed = losses_and_weights(model, "cuda", STEPS, cuda_graphs=True)
    assert_close_runs(plain, graphed, rtol=1e-5, atol=1e-6, steps=STEPS)


def test_cuda_graphs_capture_each_phase_once_and_run_other_shapes_eagerly():
    run = new_run(TrainConfig.for_model("wgan-gp", device="cuda", batch_size=16, n_critic=2))
    step = make_step(run)
    assert isinstance(step, CudaGraphStep)
    real, labels = torch.rand(16, 1, 28, 28, device="cuda"), torch.zeros(16, dtype=torch.long, device="cuda")
    for _ in range(STEPS):
        metrics = step(real, labels)
        run.step += 1
    assert set(step.graphs) == {False, True}  # critic only, and critic then generator
    assert step(real[:5], labels[:5])["loss_d"].isfinite()  # a short batch: eager, no new graph
    assert len(step.graphs) == 2 and metrics["loss_d"].isfinite()


def test_a_cpu_checkpoint_resumes_on_cuda_with_graphs(tmp_path):
    run = new_run(TrainConfig.for_model("dcgan", device="cpu", batch_size=16))
    step = make_step(run)
    step(torch.rand(16, 1, 28, 28), torch.zeros(16, dtype=torch.long))
    path = save_checkpoint(run, tmp_path / "checkpoint.pt")
    resumed = load_run(path, device="cuda")
    assert resumed.opt_d.param_groups[0]["capturable"]  # the CPU run's options stay behind
    step = make_step(resumed)
    real = torch.rand(16, 1, 28, 28, device="cuda")
    for _ in range(WARMUP_CALLS + 2):
        assert step(real, real.new_zeros(16, dtype=torch.long))["loss_d"].isfinite()
    assert step.graphs


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp"])
def test_compiled_networks_train_like_eager_ones_on_cuda(model, exact_kernels):
    plain = losses_and_weights(model, "cuda", STEPS)
    compiled = losses_and_weights(model, "cuda", STEPS, compile=True)  # inductor: real code generation
    assert_close_runs(plain, compiled, rtol=1e-3, atol=1e-4, steps=STEPS)
