"""A training run and its files: the run's state, checkpoints (written atomically, loaded
safely with ``weights_only=True``, on any device), and the exported and shipped weights."""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan_helpers.config import ClassifierConfig, TrainConfig, pick_device
from gan_helpers.models import (
    FashionClassifier,
    build_discriminator,
    build_generator,
    check_kind,
    generate_from,
    grid_labels,
    init_weights,
    is_conditional,
)
from gan_helpers.speed import memory_format

WEIGHTS_DIR = Path(__file__).parent / "weights"

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

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir) / self.config.name

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.num_epochs

    def samples(self) -> torch.Tensor:
        """The generator's images for the fixed noise, in eval mode (batch norm uses running stats).

        A conditional generator draws the classes in order, one row of the 10x10 grid each.
        """
        labels = None
        if is_conditional(self.generator):
            labels = grid_labels(len(self.fixed_noise), self.generator.num_classes)
        return generate_from(self.generator, self.fixed_noise, labels)


def new_run(
    config: TrainConfig, generator: nn.Module | None = None, discriminator: nn.Module | None = None
) -> Run:
    """Fresh networks and optimizers; ``config.seed`` fixes the weights, noise and data order.

    ``generator`` and ``discriminator`` default to the package's networks for ``config.model``;
    pass your own (say, a class you edited in a notebook) to train those instead. Either way
    they are initialised here, after seeding, so the seed alone decides the starting weights.
    """
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    generator = generator if generator is not None else build_generator(
        config.model, config.latent_dim, config.num_classes
    )
    discriminator = discriminator if discriminator is not None else build_discriminator(
        config.model, config.num_classes
    )
    layout = memory_format(config)
    for model in (generator, discriminator):
        model.apply(init_weights)
        model.to(device, memory_format=layout)
    noise_rng = torch.Generator().manual_seed(config.seed + 1)
    fixed_noise = torch.randn(SAMPLE_COUNT, config.latent_dim, generator=noise_rng).to(device)
    opt_g = adam(generator, config.lr_g, config.betas, device)
    opt_d = adam(discriminator, config.lr_d, config.betas, device)
    return Run(config, generator, discriminator, opt_g, opt_d, fixed_noise, device)


def adam(model: nn.Module, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam; on CUDA fused (one kernel for all parameters) and capturable (CUDA graphs can record it)."""
    cuda = device.type == "cuda"  # on the CPU the default implementation is as fast
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=cuda or None, capturable=cuda)


# --- Checkpoints.

FORMAT = 1


def atomic_save(obj: dict, path: str | Path) -> Path:
    """``torch.save`` to a temporary file then rename it, so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(obj, file)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; a checkpoint is ordinary data
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def save_checkpoint(run: Run, path: str | Path | None = None) -> Path:
    """Save the whole run (models, optimizers, RNG states, position, history, config)."""
    state = {
        "format": FORMAT,
        "kind": run.config.model,
        "config": run.config.to_dict(),
        "generator": run.generator.state_dict(),
        "discriminator": run.discriminator.state_dict(),
        "opt_g": run.opt_g.state_dict(),
        "opt_d": run.opt_d.state_dict(),
        "fixed_noise": run.fixed_noise.cpu(),
        "history": run.history,
        "position": {"epoch": run.epoch, "batch": run.batch, "step": run.step},
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return atomic_save(state, path or run.checkpoint_path)


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint file onto the CPU, with a clear error if it is missing or not ours."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; pass the path of a checkpoint.pt file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"{path} is not a readable PyTorch checkpoint ({error})") from error
    if not isinstance(state, dict) or state.get("format") != FORMAT or "kind" not in state:
        raise ValueError(f"{path} is not a fashion-gan checkpoint (no format/kind entries)")
    return state


def load_run(
    path: str | Path,
    device: str | None = None,
    *,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
    **overrides,
) -> Run:
    """Rebuild a run from its checkpoint, ready for ``train`` to continue it.

    ``overrides`` change config fields (e.g. ``num_epochs`` to train longer); the RNG state
    is restored, so on the CPU the continuation matches an uninterrupted run exactly.
    ``generator``/``discriminator``: your own networks, as given to ``new_run``.
    """
    state = read_checkpoint(path)
    values = {**state["config"], **overrides}
    if device is not None:
        values["device"] = device
    run = new_run(TrainConfig.from_dict(values), generator, discriminator)
    load_weights(run.generator, state["generator"], state["kind"], run.config.model, path)
    load_weights(run.discriminator, state["discriminator"], state["kind"], run.config.model, path)
    load_optimizer(run.opt_g, state["opt_g"])
    load_optimizer(run.opt_d, state["opt_d"])
    run.fixed_noise = state["fixed_noise"].to(run.device)
    run.history = {key: list(values) for key, values in state["history"].items()}
    run.epoch, run.batch, run.step = (state["position"][k] for k in ("epoch", "batch", "step"))
    torch.set_rng_state(state["rng_cpu"])
    if run.device.type == "cuda" and state["rng_cuda"]:
        torch.cuda.set_rng_state_all(state["rng_cuda"])
    return run


DEVICE_OPTIONS = ("fused", "foreach", "capturable")  # how the optimizer runs, not what it learned


def load_optimizer(optimizer: torch.optim.Optimizer, saved: dict) -> None:
    """Load ``saved`` but keep ``optimizer``'s device options: a CPU run's state can go on a GPU."""
    groups = [
        {**group, **{key: current[key] for key in DEVICE_OPTIONS if key in current}}
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
            f"{path} does not fit {type(model).__name__} ({kind!r}): {str(error).splitlines()[0]}"
            " It was probably saved by a different version of the model code."
        ) from error


# --- Exported generators, shipped weights and the classifier.


def export_generator(checkpoint: str | Path, output: str | Path) -> Path:
    """Keep only the generator of a training checkpoint, in half precision (a few MB)."""
    state = read_checkpoint(checkpoint)
    weights = {k: v.half() if v.is_floating_point() else v for k, v in state["generator"].items()}
    exported = {
        "format": state["format"],
        "kind": state["kind"],
        "config": state["config"],
        "position": state["position"],
        "generator": weights,
        "fixed_noise": state["fixed_noise"],
        "history": state["history"],  # small, and lets a notebook show how training went
    }
    return atomic_save(exported, output)


def load_generator(
    path: str | Path, device: str | torch.device = "cpu", kind: str | None = None
) -> nn.Module:
    """The generator of a training checkpoint or an exported file, in eval mode.

    With ``kind``, a file that holds another model is refused with an error naming both.
    """
    state = read_checkpoint(path)
    config = TrainConfig.from_dict(state["config"])
    generator = build_generator(state["kind"], config.latent_dim, config.num_classes)
    load_weights(generator, state["generator"], state["kind"], kind or state["kind"], path)
    generator.kind, generator.class_names = state["kind"], config.class_names
    return generator.to(device).eval()


def load_pretrained(kind: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped generator for ``kind`` ("mlp", "dcgan", "wgan-gp" or "cgan"), in eval mode."""
    check_kind(kind)
    path = WEIGHTS_DIR / f"{kind}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped weights for {kind!r} at {path}; train them with "
            f"`python -m gan_helpers train {kind}` and load the checkpoint with load_generator"
        )
    return load_generator(path, device, kind)


def load_history(kind: str) -> dict[str, list[float]]:
    """The training history (losses per logged batch) stored with a shipped generator."""
    check_kind(kind)
    return read_checkpoint(WEIGHTS_DIR / f"{kind}.pt")["history"]


def save_classifier(model: nn.Module, config: ClassifierConfig, accuracy: float, path) -> Path:
    """Save the trained classifier with its config and test accuracy."""
    state = {"format": 1, "kind": "classifier", "config": asdict(config),
             "test_accuracy": accuracy, "classifier": model.state_dict()}  # fmt: skip
    return atomic_save(state, path)


def load_classifier(path: str | Path = WEIGHTS_DIR / "classifier.pt", device="cpu") -> FashionClassifier:
    """The trained classifier (the shipped one by default), in eval mode."""
    state = read_checkpoint(path)
    if state["kind"] != "classifier":
        raise ValueError(f"{path} holds a {state['kind']!r} model, not the classifier")
    model = FashionClassifier()
    model.load_state_dict(state["classifier"])
    model.test_accuracy = state["test_accuracy"]
    return model.to(device).eval()


