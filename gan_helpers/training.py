"""Chapter 02 and every training chapter after it: the engine. ``train(run, step=...)`` runs any
step on every batch until the run's epochs are done.

A learner's own ``step(run, real, labels) -> metrics`` trains exactly like the package's
(``gan_helpers.steps``). The engine adds what a long run needs (progress bar, history, sample
grids, quality measurements, checkpoints, Ctrl-C, NaN stop) and the speed work of
``gan_helpers.speed``, none of which changes what is learned.
"""

from __future__ import annotations

import json
import math
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from tqdm.auto import tqdm

from gan_helpers.augment import ADJUST_EVERY
from gan_helpers.config import TrainConfig
from gan_helpers.data import BatchIterator, ImageData, load_dataset, take_subset
from gan_helpers.evaluation import SPACES, Reference, tracked_quality
from gan_helpers.files import DiskFullError, atomic_write, remove_run_files, run_folder
from gan_helpers.image_folder import describe, read_folder
from gan_helpers.images import save_grid
from gan_helpers.kinds import KINDS
from gan_helpers.plots import plot_run
from gan_helpers.runs import Run, new_run, save_checkpoint, update_average
from gan_helpers.speed import StepFunction, fast_layers, with_fast_paths
from gan_helpers.steps import Step

# --- The engine.


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint is kept."""


def make_step(run: Run, step: Step | None = None) -> StepFunction:
    """``step`` (default: the model's own) bound to ``run``, wrapped in the config's fast paths.

    CUDA graphs replay only the package's own steps, whose phases are known: a graph records
    one path through the code, and a step of yours may branch on anything.
    """
    step = step or run.config.kind.step
    phase = {kind.step: kind.phase for kind in KINDS.values()}.get(step)
    if run.augmentation is not None or run.config.lr_decay:  # a graph would fix p, or the rate,
        phase = None  # at its recorded value
    return with_fast_paths(
        run, lambda real, labels: step(run, real, labels), None if phase is None else lambda: phase(run)
    )


@contextmanager
def augmented(run: Run) -> Iterator[None]:
    """Chapter 10: inside, the discriminator scores augmented images (``run.augmentation``)."""
    hook = run.augmentation.install(run.discriminator) if run.augmentation is not None else None
    try:
        yield
    finally:
        if hook is not None:
            hook.remove()


def adapt(run: Run, real: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Adaptive augmentation: every ``ADJUST_EVERY`` batches, p follows the discriminator's
    outputs on real images; p goes into the history (as ``augment_p``) wherever it is used."""
    augmentation = run.augmentation
    if augmentation is None:
        return {}
    if augmentation.adaptive and (run.step + 1) % ADJUST_EVERY == 0:
        augmentation.adjust(run.discriminator, real, labels if run.config.kind.conditional else None)
    return {"augment_p": torch.tensor(augmentation.p)}


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


class MetricAverager:
    """Sums metrics on the device and reads them back in one transfer when asked: every read of
    a GPU number waits for all the work queued before it."""

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
    keys = run.config.kind.metrics
    keys = [*keys, *(key for key in means if key not in keys)]  # a learner's step may add metrics
    entry = {"step": run.step, "epoch": run.epoch + run.batch / per_epoch}
    entry |= {key: means.get(key, math.nan) for key in keys}
    count = len(run.history.get("step", []))
    for key, value in entry.items():
        run.history.setdefault(key, [math.nan] * count).append(value)  # a new series starts aligned
    return means


def end_epoch(run: Run, references: list[Reference]) -> str:
    """Save the epoch's sample grid, measure quality and save the checkpoint, as the config asks.

    Returns a line about the epoch's sample quality ("" when not measured).
    """
    cfg = run.config
    run.epoch, run.batch = run.epoch + 1, 0
    if run.epoch % cfg.sample_every == 0 or run.finished:
        save_grid(run.samples(), run.run_dir / f"epoch_{run.epoch:03d}.png")
    line = ""
    if references and (run.epoch % cfg.quality_every == 0 or run.finished):
        tracked = tracked_quality(run.ema if run.ema is not None else run.generator, references)
        for key, value in {"fd_epoch": run.epoch, **tracked}.items():
            run.history.setdefault(key, []).append(value)
        entropy, count = tracked["fd_class_entropy"], references[0].count
        line = f"epoch {run.epoch}: {distances(tracked)}, class entropy {entropy:.3f} bits ({count} samples)"
        if keep_best(run, tracked):
            line += ", the best so far"
    if run.epoch % cfg.checkpoint_every == 0 or run.finished:
        save_checkpoint(run)
    return line


def distances(tracked: dict[str, float]) -> str:
    """The tracked FDs in words: "FD 12.04 (classifier), 1.59 (encoder)"."""
    text = f"FD {tracked['fd']:.2f} (classifier)"
    return text + (f", {tracked['fd_encoder']:.2f} (encoder)" if "fd_encoder" in tracked else "")


def quality_score(tracked: dict[str, float]) -> float:
    """What "best" means: the geometric mean of the FDs tracked in the two spaces. Each space's
    scale cancels out of a comparison, so neither outweighs the other, and an epoch is better
    only if what it gains in one space outweighs, in ratio, what it loses in the other."""
    return math.sqrt(tracked["fd"] * tracked["fd_encoder"]) if "fd_encoder" in tracked else tracked["fd"]


def keep_best(run: Run, tracked: dict[str, float]) -> bool:
    """Keep the generator (its average, where the run keeps one) of the epoch with the best
    ``quality_score``, and its grid as ``best.png``: a run that drifts later keeps its best weights.

    Returns whether this epoch is the new best.
    """
    score = quality_score(tracked)
    if run.best is not None and score >= run.best["score"]:
        return False
    generator = run.ema if run.ema is not None else run.generator
    weights = {key: value.detach().cpu().clone() for key, value in generator.state_dict().items()}
    run.best = {"epoch": run.epoch, "score": score, **tracked, "generator": weights}
    save_grid(run.samples(), run.run_dir / "best.png", caption=f"epoch {run.epoch}: {distances(tracked)}")
    return True


def quality_references(run: Run, data: ImageData) -> list[Reference]:
    """Real images to measure the samples against during training, in the classifier's space
    and the encoder's: Fashion-MNIST only, since the classifier knows only its classes."""
    cfg = run.config
    fashion = cfg.dataset == "fashion-mnist" and not cfg.data_dir and len(data.class_names) == 10
    if cfg.quality_every == 0 or not fashion:
        return []
    count = min(cfg.quality_samples, len(data))
    return [Reference.build(count=count, seed=cfg.seed, device=run.device, train=data, space=space)
            for space in SPACES]  # fmt: skip


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
    a checkpoint saved. The folder gets the epoch grids, ``checkpoint.pt``, ``history.json`` and
    ``losses.png``, from a notebook as from the command line.
    """
    if isinstance(run, TrainConfig):
        run = new_run(run)
    cfg = run.config
    data = training_set(cfg, data)
    if len(data) < cfg.batch_size:  # checked before the folder is made: a refused start leaves nothing
        kept = f"subset {cfg.subset} keeps {len(data)}" if cfg.subset < 1 else f"there are {len(data)}"
        raise ValueError(
            f"{kept} training images, fewer than one batch of {cfg.batch_size}; lower batch_size "
            "(--batch-size)" + (" or raise subset (--subset)" if cfg.subset < 1 else " or add images")
        )
    with run_folder(run, overwrite):
        batches = BatchIterator(data, cfg.batch_size, device=run.device, drop_last=True, seed=cfg.seed)
        references = quality_references(run, data)
        if overwrite:
            remove_run_files(run.run_dir, keep=run.source)
        try:
            run_epochs(run, batches, step, on_log, progress, references)
        except DiskFullError:
            raise  # the report would not fit either
        except BaseException:  # diverged, or a second Ctrl-C: what was learned so far is still reported
            write_report(run)
            raise
        write_report(run)
    return run


def training_set(cfg: TrainConfig, data: ImageData | None = None) -> ImageData:
    """The images a run trains on: ``data`` (default: the config's own), cut to ``cfg.subset``."""
    data = data if data is not None else training_data(cfg)
    return take_subset(data, cfg.subset, seed=cfg.seed) if cfg.subset < 1.0 else data


def training_data(cfg: TrainConfig) -> ImageData:
    """The config's training images: its folder's, all but the held-out tenth (chapter 10; said
    in a line, with what was skipped), else its dataset's."""
    if not cfg.data_dir:
        return load_dataset(cfg.dataset, cfg.data_root, train=True)
    folder = read_folder(cfg)
    print(describe(folder), flush=True)
    return folder.part(held=False)


def write_report(run: Run) -> None:
    """Write ``history.json`` and ``losses.png`` into the run folder, each atomically."""
    atomic_write(run.run_dir / "history.json", lambda file: file.write(json.dumps(run.history).encode()))
    if run.history.get("step"):
        fig = plot_run(run.history, run.config.model, headless=True)
        atomic_write(run.run_dir / "losses.png", lambda file: fig.savefig(file, format="png", dpi=100))


def decay_rates(run: Run, per_epoch: int) -> None:
    """Both optimizers' rates for the next batch: the config's, until the last ``lr_decay`` share
    of the run's ``num_epochs``, over which they fall linearly to 0 (annealing: the players'
    steps shrink, so they settle instead of circling). The rate follows from the run's position
    alone, so a stopped run resumes exactly; a resume that changes ``num_epochs`` re-times it
    (the rate may jump back up)."""
    if not run.config.lr_decay:
        return
    done = run.epoch * per_epoch + run.batch  # in batches of the current size, which a resume may change
    left = max(0.0, 1.0 - done / (run.config.num_epochs * per_epoch))  # share of the run still to train
    scale = min(1.0, left / run.config.lr_decay)  # 1 until the decay starts, 0 at the run's end
    for optimizer, rate in ((run.opt_g, run.config.lr_g), (run.opt_d, run.config.lr_d)):
        for group in optimizer.param_groups:
            group["lr"] = rate * scale


def run_epochs(
    run: Run, batches: BatchIterator, step: Step | None, on_log, progress: bool, references: list[Reference]
) -> None:
    """The loop: batches until ``num_epochs``, or until Ctrl-C (then a checkpoint is saved)."""
    cfg, averager = run.config, MetricAverager()
    run.generator.train()
    run.discriminator.train()
    bar = tqdm(total=cfg.num_epochs * len(batches), initial=run.step, disable=not progress)
    with fast_layers(run), augmented(run), StopRequest() as stop, bar:
        train_on_batch = make_step(run, step)
        while not run.finished:
            bar.set_description(f"epoch {run.epoch + 1}/{cfg.num_epochs}")  # short: a notebook's bar wraps
            for real, labels in batches.batches(run.epoch, start=run.batch):
                decay_rates(run, len(batches))
                metrics = train_on_batch(real, labels) | adapt(run, real, labels)
                averager.add(metrics)
                if "loss_g" in metrics:  # the generator moved (WGAN-GP: one batch in n_critic)
                    if run.ema is not None:  # its average follows its updates, not the batches
                        steps = run.generator_steps
                        update_average(run.ema, run.generator, cfg.ema_decay, steps, cfg.ema_start)
                    run.generator_steps += 1
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
            quality = end_epoch(run, references)
            if quality and progress:  # one line an epoch, with or without the progress bar
                bar.write(quality)
            elif quality:
                print(quality, flush=True)
            if on_log is not None:
                on_log(run)  # the epoch's last entry: a live view draws its final frame
