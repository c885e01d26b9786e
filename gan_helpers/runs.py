"""A training run: its state (networks, optimizers, the weight average, its place in the data),
the device it trains on, and its checkpoint, written atomically and loaded safely
(``weights_only=True``) on any device to continue exactly where it stopped."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan_helpers.augment import Augmentation
from gan_helpers.config import TrainConfig, check_field_names
from gan_helpers.files import atomic_save
from gan_helpers.image_folder import fit_to_folder, read_folder
from gan_helpers.kinds import build_discriminator, build_generator
from gan_helpers.models import init_weights, is_conditional
from gan_helpers.sampling import generate_from, grid_labels
from gan_helpers.speed import adam, memory_format

SAMPLE_COUNT = 100  # fixed noise vectors: a 10x10 grid watched over the whole run


@dataclass
class Run:
    """Everything needed to continue training exactly where it stopped."""

    config: TrainConfig
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    fixed_noise: torch.Tensor
    device: torch.device
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # batches done in all
    generator_steps: int = 0  # generator updates in all (the weight average's clock)
    ema: nn.Module | None = None  # the average of the generator's weights (config.ema_decay > 0)
    best: dict | None = None  # with quality tracking: the best epoch's "epoch", "score", FDs, "generator"
    source: Path | None = None  # the checkpoint this run last wrote or was loaded from
    augmentation: Augmentation | None = None  # chapter 10: what the discriminator sees (config.augment)
    data_record: dict | None = None  # a folder of images (config.data_dir): its path, file count, list hash
    changes: list[str] = field(default_factory=list)  # settings a resume changed, for the log

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir) / self.config.name

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.num_epochs

    def samples(self, averaged: bool = True) -> torch.Tensor:
        """The generator's images for the fixed noise, in eval mode (batch norm uses running stats).

        ``averaged``: from the average of its weights (``ema``) where the run keeps one. A
        conditional generator draws the classes in order, one row of the 10x10 grid each.
        """
        generator = self.ema if averaged and self.ema is not None else self.generator
        labels = None
        if is_conditional(generator):
            labels = grid_labels(len(self.fixed_noise), generator.num_classes)
        return generate_from(generator, self.fixed_noise, labels)


@torch.no_grad()
def update_average(average: nn.Module, model: nn.Module, decay: float, step: int, start: int = 0) -> None:
    """Exponential moving average of the weights: average <- d * average + (1 - d) * model.

    ``d = min(decay, (1 + n) / (10 + n))`` with ``n = step - start`` updates averaged so far:
    early on, when the first weights are noise, the average forgets quickly; before ``start`` it
    only copies the weights. Batch-norm running statistics are averaged the same way (they
    describe the activations of recent weights), and the batch counter is copied.
    """
    averaged_steps = step - start
    d = min(decay, (1 + averaged_steps) / (10 + averaged_steps)) if averaged_steps >= 0 else 0.0
    for averaged, current in zip(average.state_dict().values(), model.state_dict().values(), strict=True):
        if averaged.is_floating_point() and d > 0:
            averaged.lerp_(current.to(averaged.dtype), 1 - d)
        else:
            averaged.copy_(current)


def make_average(generator: nn.Module) -> nn.Module:
    """A frozen copy of ``generator`` to hold the average of its weights."""
    return copy.deepcopy(generator).requires_grad_(False).eval()


def new_run(
    config: TrainConfig, generator: nn.Module | None = None, discriminator: nn.Module | None = None
) -> Run:
    """Fresh networks and optimizers; ``config.seed`` fixes the weights, noise and data order.

    ``generator`` and ``discriminator`` default to the package's networks for ``config.model``;
    pass your own (say, a class you edited in a notebook) to train those instead. Either way
    they are initialised here, after seeding, so the seed alone decides the starting weights.
    """
    device = pick_device(config.device)
    folder = read_folder(config) if config.data_dir else None
    if folder is not None:  # the networks are built for the folder's images
        config = fit_to_folder(config, folder)
    torch.manual_seed(config.seed)
    generator = generator if generator is not None else build_generator(
        config.model, config.latent_dim, config.num_classes, config.image_shape
    )
    discriminator = discriminator if discriminator is not None else build_discriminator(
        config.model, config.num_classes, config.dropout, config.spectral_norm, config.image_shape
    )
    layout = memory_format(config)
    for model in (generator, discriminator):
        model.apply(init_weights)
        model.to(device, memory_format=layout)
    noise_rng = torch.Generator().manual_seed(config.seed + 1)
    fixed_noise = torch.randn(SAMPLE_COUNT, config.latent_dim, generator=noise_rng).to(device)
    opt_g = adam(generator, config.lr_g, config.betas, device)
    opt_d = adam(discriminator, config.lr_d, config.betas, device)
    ema = make_average(generator) if config.ema_decay > 0 else None
    augmentation = Augmentation(config.augment) if config.augment != "none" else None
    record = folder.record if folder is not None else None
    return Run(config, generator, discriminator, opt_g, opt_d, fixed_noise, device, ema=ema,
               augmentation=augmentation, data_record=record)  # fmt: skip


# --- Checkpoints.

FORMAT = 1


def save_checkpoint(run: Run, path: str | Path | None = None) -> Path:
    """Save the whole run (models, optimizers, RNG states, position, history, config)."""
    state = {
        "format": FORMAT,
        "kind": run.config.model,
        "config": run.config.to_dict(),
        "generator": run.generator.state_dict(),
        "ema": run.ema.state_dict() if run.ema is not None else None,
        "best": run.best,
        "discriminator": run.discriminator.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "fixed_noise": run.fixed_noise.cpu(),
        "history": run.history,
        "data": run.data_record,
        "augment_p": run.augmentation.p if run.augmentation is not None else None,
        "position": {
            "epoch": run.epoch,
            "batch": run.batch,
            "step": run.step,
            "generator_steps": run.generator_steps,
        },
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    saved = atomic_save(state, path or run.checkpoint_path)
    if path is None:
        run.source = saved
    return saved


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file onto the CPU, with a clear error if it is missing or not ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; pass the path of a checkpoint.pt file")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is empty (0 bytes): the file was cut off; use another copy of it")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        reason = (
            "it holds Python objects besides tensors and plain data, which are never loaded"
            if "Unsupported global" in str(error)
            else "torch.save did not write it"
        )
        raise ValueError(
            f"{path} is not a readable PyTorch checkpoint ({reason}); pass a checkpoint.pt written by "
            "train, or an exported generator"
        ) from error
    if not isinstance(state, dict) or state.get("format") != FORMAT or "kind" not in state:
        raise ValueError(f"{path} is not a fashion-gan checkpoint (no format/kind entries)")
    return state


# The networks are built from these, so a resume cannot change them.
FIXED_ON_RESUME = ("model", "dataset", "latent_dim", "spectral_norm", "image_size", "channels")


def load_run(
    path: str | Path,
    device: str | None = None,
    *,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
    **overrides,
) -> Run:
    """Rebuild a run from its checkpoint, ready for ``train`` to continue it in the same folder.

    ``overrides`` change config fields: ``num_epochs`` to train longer, the learning rates or
    betas (applied to the optimizers, and listed in ``run.changes``), ``output_dir``/``run_name``
    to continue elsewhere. The RNG state is restored, so on the CPU the continuation matches an
    uninterrupted run exactly. ``generator``/``discriminator``: your own networks, as for ``new_run``.
    """
    check_field_names(overrides, "load_run")
    path = Path(path)
    state = read_checkpoint(path)
    check_resumable(path, state, overrides)
    saved = state["config"]
    folder = {"output_dir": str(path.resolve().parent.parent), "run_name": path.resolve().parent.name}
    values = {**saved, **folder, **overrides, **({"device": device} if device is not None else {})}
    check_changes(path, state, values)
    run = new_run(TrainConfig.from_dict(values), generator, discriminator)
    load_weights(run.generator, state["generator"], state["kind"], run.config.model, path)
    load_weights(run.discriminator, state["discriminator"], state["kind"], run.config.model, path)
    if run.ema is not None:  # a checkpoint from before averaging was kept starts it from the generator
        load_weights(run.ema, state.get("ema") or state["generator"], state["kind"], run.config.model, path)
    load_optimizer(run.opt_g, state["opt_g"], run.config.lr_g, run.config.betas)
    load_optimizer(run.opt_d, state["opt_d"], run.config.lr_d, run.config.betas)
    run.fixed_noise = state["fixed_noise"].to(run.device)
    run.best = state.get("best")
    check_same_data(path, state.get("data"), run.data_record)
    if run.augmentation is not None and state.get("augment_p") is not None:
        run.augmentation.p = state["augment_p"]  # adaptive: where p had got to
    run.history = {key: list(values) for key, values in state["history"].items()}
    position = state["position"]
    run.epoch, run.batch, run.step = (position[k] for k in ("epoch", "batch", "step"))
    run.generator_steps = position.get("generator_steps", run.step)  # older checkpoints: one per batch
    run.source = path
    run.changes = config_changes(saved, run.config.to_dict())
    torch.set_rng_state(state["rng_cpu"])
    if run.device.type == "cuda" and state["rng_cuda"]:
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return run


FOLDER_FIELDS = ("output_dir", "run_name", "extra")  # where a run is kept, printed on their own


def config_changes(saved: dict, now: dict, ignore: tuple[str, ...] = FOLDER_FIELDS) -> list[str]:
    """The fields ``now`` sets otherwise than ``saved``, as "name now (was saved)", but for
    the fields in ``ignore``."""
    return [
        f"{name} {now[name]} (was {saved[name]})"
        for name in now
        if name in saved and name not in ignore and tuple_or_value(saved[name]) != tuple_or_value(now[name])
    ]


def tuple_or_value(value):
    """Lists (as JSON-like storage gives back) compare equal to the tuples they were."""
    return tuple(value) if isinstance(value, list) else value


MID_EPOCH_FIXED = {"batch_size": "batch size", "seed": "seed", "subset": "subset"}  # they pick the images


def check_changes(path: Path, state: dict, values: dict) -> None:
    """Refuse a resume whose changes would break the epoch it stopped in, or drop the average."""
    saved, position = state["config"], state["position"]
    for name, words in MID_EPOCH_FIXED.items():
        if position["batch"] and tuple_or_value(values[name]) != tuple_or_value(saved[name]):
            raise ValueError(
                f"{path} stopped inside epoch {position['epoch'] + 1} with {words} {saved[name]}; resuming "
                f"it with {values[name]} would skip or repeat images. Resume with the same {words}, or "
                "from a checkpoint written at the end of an epoch"
            )
    if state.get("ema") and values["ema_decay"] == 0:
        raise ValueError(
            f"{path} keeps an average of the generator's weights (ema_decay {saved['ema_decay']}), the "
            "copy that sample, export and evaluate use; ema_decay 0 would drop it. Resume without "
            "--ema-decay 0 (the last weights stay available: load_generator(path, averaged=False))"
        )


def check_same_data(path: Path, saved: dict | None, now: dict | None) -> None:
    """Refuse to continue a run on other images than it trained on: a folder's list of files
    (names and sizes) must hash the same (it may have moved); a dataset run stays on its dataset."""
    if saved is None and now is None:
        return
    if saved is None or now is None or saved["list_hash"] != now["list_hash"]:
        before = f"{saved['files']} images of {saved['path']}" if saved else "a dataset, not a folder"
        after = f"{now['files']} images of {now['path']}" if now else "a dataset"
        raise ValueError(
            f"{path} trained on {before}; this resume would train on other images ({after}). Resume "
            "with the same folder (as it was: same files), or start a new run"
        )


def check_resumable(path: Path, state: dict, overrides: dict) -> None:
    """Refuse a file that is not a training checkpoint, or a change the networks cannot take."""
    if "discriminator" not in state or "opt_d" not in state:
        kind = state["kind"]
        what = "the metrics' classifier" if kind == "classifier" else f"an exported {kind!r} generator"
        raise ValueError(
            f"{path} is {what}, not a training checkpoint: it holds no discriminator or optimizer "
            "state to continue from. Start a new run (without --resume), or resume from a run's "
            "checkpoint.pt"
        )
    for name in FIXED_ON_RESUME:
        if name in overrides and overrides[name] != state["config"].get(name):
            raise ValueError(
                f"{path} was trained with {name} = {state['config'].get(name)!r}; a resumed run cannot "
                f"change it to {overrides[name]!r}, since the networks are built from it. Start a new run"
            )


DEVICE_OPTIONS = ("fused", "foreach", "capturable")  # how the optimizer runs, not what it learned


def load_optimizer(optimizer: torch.optim.Optimizer, saved: dict, lr: float, betas: tuple) -> None:
    """Load ``saved`` with the config's ``lr`` and ``betas`` (a resume may change them) and the
    optimizer's own device options (a CPU run's state can go on a GPU)."""
    groups = [
        {**group, **{key: current[key] for key in DEVICE_OPTIONS if key in current}, "lr": lr, "betas": betas}
        for group, current in zip(saved["param_groups"], optimizer.param_groups, strict=False)
    ]
    optimizer.load_state_dict({**saved, "param_groups": groups})


def load_weights(model: torch.nn.Module, weights: dict, kind: str, expected: str, path) -> None:
    """``load_state_dict`` with an error that names both model kinds when they do not match."""
    if kind != expected:
        raise ValueError(f"{path} holds a {kind!r} model, not {expected!r}; load it as {kind!r}")
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    except RuntimeError as error:
        raise ValueError(
            f"{path} does not fit {type(model).__name__} ({kind!r}): {str(error).splitlines()[0]}. "
            "Its networks have other shapes: another latent_dim or number of classes, or other classes"
        ) from error


def pick_device(name: str = "auto") -> torch.device:
    """``"auto"`` gives the best device present; otherwise the named one, if it exists."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"device {name!r} is not a device name; use auto, cpu, cuda or mps") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but no CUDA GPU is available; use auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device 'mps' was asked for but Apple MPS is not available; use auto or cpu")
    return device
