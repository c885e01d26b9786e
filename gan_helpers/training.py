"""One training loop for all three GANs: progress bar, history, samples, checkpoints, resume."""

from __future__ import annotations

import math
import signal
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from gan_helpers.allocator import keep_freed_memory
from gan_helpers.batches import BatchIterator
from gan_helpers.checkpoints import save_checkpoint
from gan_helpers.data import load_dataset, take_subset
from gan_helpers.graphs import CudaGraphStep, StepFunction
from gan_helpers.models import is_conditional
from gan_helpers.plots import save_grid
from gan_helpers.runs import Run, memory_format
from gan_helpers.steps import critic_step, gan_step, wasserstein_generator_step

GAN_METRICS = ("loss_d", "loss_g", "d_real", "d_fake")
WGAN_METRICS = ("loss_d", "loss_g", "wasserstein", "gp")


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


COMPILE_BACKEND = "inductor"  # torch.compile's default; the tests use "eager" to stay fast
# Inductor's own choice of NHWC layouts broke the generator's backward pass on CUDA (torch 2.11,
# "expected size 64==64, stride 196==1" in convolution_backward): keep the layout we give it.
# And draw dropout masks with PyTorch's generator, so a seed gives the same run compiled or not.
INDUCTOR_OPTIONS = {"layout_optimization": False, "fallback_random": True}


def make_step(run: Run) -> StepFunction:
    """The function that trains on one batch (images, labels), with the config's fast paths."""
    return with_fast_paths(run, objective_step(run))


def with_fast_paths(run: Run, step: StepFunction) -> StepFunction:
    """Wrap ``step`` in the config's options: memory layout, bf16 autocast, compile, CUDA graphs.

    On the CPU it also has malloc keep freed memory (``reuse_cpu_memory``): steps about 10% faster.
    """
    cfg = run.config
    if cfg.reuse_cpu_memory and run.device.type == "cpu":
        keep_freed_memory()
    if cfg.compile:  # in place, so state_dict keys and checkpoints stay the same
        options = INDUCTOR_OPTIONS if COMPILE_BACKEND == "inductor" else None
        run.generator.compile(backend=COMPILE_BACKEND, options=options)
        if cfg.model != "wgan-gp":  # the gradient penalty needs a double backward compile cannot do
            run.discriminator.compile(backend=COMPILE_BACKEND, options=options)
    layout = memory_format(cfg)

    def fast_step(real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        real = real.contiguous(memory_format=layout)
        with torch.autocast(run.device.type, dtype=torch.bfloat16, enabled=cfg.amp):
            return step(real, labels)

    if cfg.cuda_graphs and run.device.type == "cuda":
        return CudaGraphStep(fast_step, phase=lambda: moves_generator(run))
    return fast_step


def moves_generator(run: Run) -> bool:
    """Whether the next step also updates the generator: always, but every n_critic-th for WGAN-GP."""
    return run.config.model != "wgan-gp" or (run.step + 1) % run.config.n_critic == 0


def objective_step(run: Run) -> StepFunction:
    """The plain step for the run's objective: GAN (conditional or not) or WGAN-GP."""
    cfg = run.config
    if cfg.model != "wgan-gp":
        conditional = is_conditional(run.generator)
        return lambda real, labels: gan_step(
            run.generator, run.discriminator, run.opt_g, run.opt_d, real, labels if conditional else None
        )

    def wgan_gp_step(real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        metrics = critic_step(run.generator, run.discriminator, run.opt_d, real, cfg.gp_weight)
        if moves_generator(run):
            metrics |= wasserstein_generator_step(
                run.generator, run.discriminator, run.opt_g, real.size(0), real.device
            )
        return metrics

    return wgan_gp_step


class MetricAverager:
    """Sums metrics on the device and reads them back in one transfer when asked."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: dict[str, torch.Tensor]) -> None:
        for key, value in metrics.items():
            self.sums[key] = self.sums[key] + value if key in self.sums else value.clone()
            self.counts[key] = self.counts.get(key, 0) + 1

    def pop(self) -> dict[str, float]:
        """The means since the last pop (one host sync), then start again."""
        if not self.sums:
            return {}
        keys = list(self.sums)
        means = torch.stack([self.sums[k] / self.counts[k] for k in keys]).tolist()
        self.sums, self.counts = {}, {}
        return dict(zip(keys, means, strict=True))


class StopRequest:
    """Turns the first Ctrl-C (or the notebook's stop button) into a request to stop cleanly.

    The loop finishes its current batch, saves a checkpoint and returns. A second Ctrl-C
    interrupts at once, as usual.
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous = None

    def __enter__(self) -> StopRequest:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: keep the default behaviour
            self._previous = None
        return self

    def _handle(self, signum, frame) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def record(run: Run, averager: MetricAverager, per_epoch: int) -> dict[str, float]:
    """Append the averaged metrics to the history; stop if any is NaN or infinite."""
    means = averager.pop()
    if not means:
        return means
    bad = {key: value for key, value in means.items() if not math.isfinite(value)}
    if bad:
        raise TrainingDivergedError(
            f"training diverged at epoch {run.epoch + 1}, batch {run.step}: {bad}. "
            f"The last good checkpoint is kept at {run.checkpoint_path} (if one was written). "
            "Try lower learning rates (lr_g, lr_d) or, for WGAN-GP, a larger gp_weight."
        )
    # Every series gets a value, so all stay aligned with "step"; NaN marks a window without
    # that update (possible for loss_g of WGAN-GP when log_every < n_critic).
    keys = WGAN_METRICS if run.config.model == "wgan-gp" else GAN_METRICS
    entry = {"step": run.step, "epoch": run.epoch + run.batch / per_epoch}
    entry |= {key: means.get(key, math.nan) for key in keys}
    for key, value in entry.items():
        run.history.setdefault(key, []).append(value)
    return means


def end_epoch(run: Run) -> None:
    """Save the epoch's sample grid and checkpoint, as the config asks."""
    cfg = run.config
    run.epoch, run.batch = run.epoch + 1, 0
    if run.epoch % cfg.sample_every == 0 or run.finished:
        save_grid(run.samples(), run.run_dir / f"epoch_{run.epoch:03d}.png")
    if run.epoch % cfg.checkpoint_every == 0 or run.finished:
        save_checkpoint(run)


def train(run: Run, *, on_log: Callable[[Run], None] | None = None, progress: bool = True) -> Run:
    """Train until ``config.num_epochs``; safe to call again on a loaded or stopped run.

    ``on_log(run)`` is called after each history entry (every ``log_every`` batches), e.g. to
    refresh a live view. Ctrl-C stops after the current batch with a checkpoint saved.
    """
    cfg = run.config
    data = load_dataset(cfg.dataset, cfg.data_root, train=True)
    if cfg.subset < 1.0:
        data = take_subset(data, cfg.subset, seed=cfg.seed)
    batches = BatchIterator(data, cfg.batch_size, device=run.device, drop_last=True, seed=cfg.seed)
    step, averager = make_step(run), MetricAverager()
    run.generator.train()
    run.discriminator.train()
    total = cfg.num_epochs * len(batches)
    with StopRequest() as stop, tqdm(total=total, initial=run.step, disable=not progress) as bar:
        while not run.finished:
            bar.set_description(f"{cfg.model} epoch {run.epoch + 1}/{cfg.num_epochs}")
            for real, labels in batches.batches(run.epoch, start=run.batch):
                averager.add(step(real, labels))
                run.batch, run.step = run.batch + 1, run.step + 1
                bar.update()
                if run.step % cfg.log_every == 0:
                    bar.set_postfix(record(run, averager, len(batches)), refresh=False)
                    if on_log is not None:
                        on_log(run)
                if stop.requested:
                    record(run, averager, len(batches))
                    path = save_checkpoint(run)
                    bar.write(f"Stopped at batch {run.step}; saved {path}. train(run) resumes.")
                    return run
            record(run, averager, len(batches))
            end_epoch(run)
    return run
