"""Training: one step per objective, written out plainly, and the engine that runs any step.

The steps are the code of chapters 02 (``gan_step``), 04 (``critic_step``, ``generator_step``,
the n_critic schedule ``wgan_gp_train_step``) and 06 (``conditional_train_step``): the notebooks
define them in their cells and ``tools/export_code.py --check`` keeps the two identical.

``train(run, step=...)`` runs any function ``step(run, real, labels) -> metrics``: a learner's
own step trains exactly like the package's. The engine adds what a long run needs (progress
bar, history, sample grids, checkpoints, Ctrl-C, NaN stop) and the speed work of
``gan_helpers.speed``, none of which changes what is learned.
"""

from __future__ import annotations

import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.optim import Optimizer
from tqdm.auto import tqdm

from gan_helpers.config import TrainConfig, remove_run_files, run_folder
from gan_helpers.data import BatchIterator, ImageData, load_dataset, take_subset
from gan_helpers.display import save_grid
from gan_helpers.evaluation import Reference, frechet_and_entropy
from gan_helpers.losses import (
    critic_loss,
    discriminator_loss,
    generator_loss,
    gradient_penalty,
    saturating_generator_loss,
    wasserstein_generator_loss,
)
from gan_helpers.runs import Run, new_run, save_checkpoint, update_average
from gan_helpers.speed import MetricAverager, StepFunction, fast_layers, with_fast_paths

Step = Callable[[Run, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]
GAN_METRICS = ("loss_d", "loss_g", "d_real", "d_fake")
WGAN_METRICS = ("loss_d", "loss_g", "wasserstein", "gp")


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
    objective = {"non-saturating": generator_loss, "saturating": saturating_generator_loss}
    return gan_step(
        run.generator, run.discriminator, run.opt_g, run.opt_d, real,
        objective=objective[run.config.generator_loss],
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


# --- The engine.


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def default_step(model: str) -> Step:
    """The package's step for a model kind."""
    return {"wgan-gp": wgan_gp_train_step, "cgan": conditional_train_step}.get(model, gan_train_step)


def make_step(run: Run, step: Step | None = None) -> StepFunction:
    """``step`` (default: the model's own) bound to ``run``, wrapped in the config's fast paths.

    CUDA graphs replay only the package's own steps, whose phases are known: a graph records
    one path through the code, and a step of yours may branch on anything.
    """
    step = step or default_step(run.config.model)
    phases = {
        gan_train_step: lambda: None,
        conditional_train_step: lambda: None,
        wgan_gp_train_step: lambda: (run.step + 1) % run.config.n_critic == 0,  # moves the generator?
    }
    return with_fast_paths(run, lambda real, labels: step(run, real, labels), phases.get(step))


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


LOSS_BOUND = 1e6  # a loss past this is diverging even if it is still a number


def record(run: Run, averager: MetricAverager, per_epoch: int) -> dict[str, float]:
    """Append the averaged metrics to the history; stop if a loss is NaN, infinite or past 1e6."""
    means = averager.pop()
    if not means:
        return means
    bad = {
        key: value
        for key, value in means.items()
        if not math.isfinite(value) or (key.startswith("loss") and abs(value) > LOSS_BOUND)
    }
    if bad:
        raise TrainingDivergedError(
            f"training diverged at epoch {run.epoch + 1}, batch {run.step}: {bad} (NaN, infinite, or a "
            f"loss beyond {LOSS_BOUND:.0e}). The last good checkpoint is kept at {run.checkpoint_path} "
            "(if one was written). Try lower learning rates (lr_g, lr_d) or, for WGAN-GP, a larger gp_weight."
        )
    # Every series gets a value, so all stay aligned with "step"; NaN marks a window without
    # that update (possible for loss_g of WGAN-GP when log_every < n_critic).
    keys = WGAN_METRICS if run.config.model == "wgan-gp" else GAN_METRICS
    keys = [*keys, *(key for key in means if key not in keys)]  # a learner's step may add metrics
    entry = {"step": run.step, "epoch": run.epoch + run.batch / per_epoch}
    entry |= {key: means.get(key, math.nan) for key in keys}
    count = len(run.history.get("step", []))
    for key, value in entry.items():
        run.history.setdefault(key, [math.nan] * count).append(value)  # a new series starts aligned
    return means


def end_epoch(run: Run, reference: Reference | None) -> str:
    """Save the epoch's sample grid, measure quality and save the checkpoint, as the config asks.

    Returns a line about the epoch's sample quality ("" when not measured).
    """
    cfg = run.config
    run.epoch, run.batch = run.epoch + 1, 0
    if run.epoch % cfg.sample_every == 0 or run.finished:
        save_grid(run.samples(), run.run_dir / f"epoch_{run.epoch:03d}.png")
    line = ""
    if reference is not None and (run.epoch % cfg.quality_every == 0 or run.finished):
        fd, entropy = frechet_and_entropy(run.ema if run.ema is not None else run.generator, reference)
        for key, value in (("fd_epoch", run.epoch), ("fd", fd), ("fd_class_entropy", entropy)):
            run.history.setdefault(key, []).append(value)
        line = f"epoch {run.epoch}: FD {fd:.2f}, class entropy {entropy:.3f} bits ({reference.count} samples)"
    if run.epoch % cfg.checkpoint_every == 0 or run.finished:
        save_checkpoint(run)
    return line


def quality_reference(run: Run, data: ImageData) -> Reference | None:
    """Real images to measure the samples against during training: Fashion-MNIST only, since
    the metrics' classifier knows only its classes."""
    cfg = run.config
    if cfg.quality_every == 0 or cfg.dataset != "fashion-mnist" or len(data.class_names) != 10:
        return None
    count = min(cfg.quality_samples, len(data))
    return Reference.build(count=count, seed=cfg.seed, device=run.device, train=data)


def train(
    run: Run | TrainConfig,
    *,
    step: Step | None = None,
    data: ImageData | None = None,
    on_log: Callable[[Run], None] | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> Run:
    """Train until ``config.num_epochs``; safe to call again on a loaded or stopped run.

    ``run``: a run (``new_run``, ``load_run``), or a config to start a new run from.
    ``step(run, real, labels) -> metrics`` trains on one batch (default: the model's own step).
    ``data`` replaces the config's dataset (``config.subset`` still applies). ``on_log(run)`` is
    called after each history entry (every ``log_every`` batches, and at each epoch's end), e.g.
    to refresh a live view.
    A run folder that holds another run is refused unless ``overwrite``, which removes that
    run's files; the folder is locked while training. Ctrl-C stops after the current batch with
    a checkpoint saved.
    """
    if isinstance(run, TrainConfig):
        run = new_run(run)
    cfg = run.config
    data = data if data is not None else load_dataset(cfg.dataset, cfg.data_root, train=True)
    if cfg.subset < 1.0:
        data = take_subset(data, cfg.subset, seed=cfg.seed)
    if len(data) < cfg.batch_size:  # checked before the folder is made: a refused start leaves nothing
        raise ValueError(
            f"subset {cfg.subset} keeps {len(data)} training images, fewer than one batch of "
            f"{cfg.batch_size}; raise subset (--subset) or lower batch_size (--batch-size)"
        )
    with run_folder(run, overwrite):
        batches = BatchIterator(data, cfg.batch_size, device=run.device, drop_last=True, seed=cfg.seed)
        reference = quality_reference(run, data)
        if overwrite:
            remove_run_files(run.run_dir, keep=run.source)
        run_epochs(run, batches, step, on_log, progress, reference)
    return run


def run_epochs(
    run: Run, batches: BatchIterator, step: Step | None, on_log, progress: bool, reference: Reference | None
) -> None:
    """The loop: batches until ``num_epochs``, or until Ctrl-C (then a checkpoint is saved)."""
    cfg, averager = run.config, MetricAverager()
    run.generator.train()
    run.discriminator.train()
    bar = tqdm(total=cfg.num_epochs * len(batches), initial=run.step, disable=not progress)
    with fast_layers(run), StopRequest() as stop, bar:
        train_on_batch = make_step(run, step)
        while not run.finished:
            bar.set_description(f"epoch {run.epoch + 1}/{cfg.num_epochs}")  # short: a notebook's bar wraps
            for real, labels in batches.batches(run.epoch, start=run.batch):
                averager.add(train_on_batch(real, labels))
                if run.ema is not None:
                    update_average(run.ema, run.generator, cfg.ema_decay, run.step)
                run.batch, run.step = run.batch + 1, run.step + 1
                bar.update()
                if run.step % cfg.log_every == 0:
                    bar.set_postfix(record(run, averager, len(batches)), refresh=False)
                    if on_log is not None:
                        on_log(run)
                if stop.requested:
                    record(run, averager, len(batches))
                    bar.write(f"Stopped at batch {run.step}; saved {save_checkpoint(run)}.")
                    return
            record(run, averager, len(batches))
            quality = end_epoch(run, reference)
            if quality:  # one line an epoch, with or without the progress bar
                bar.write(quality) if progress else print(quality, flush=True)
            if on_log is not None:
                on_log(run)  # the epoch's last entry: a live view draws its final frame
