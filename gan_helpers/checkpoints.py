"""Checkpoints: written atomically, loaded safely (``weights_only=True``), on any device."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

from gan_helpers.config import TrainConfig
from gan_helpers.runs import Run, new_run

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


def load_run(path: str | Path, device: str | None = None, **overrides) -> Run:
    """Rebuild a run from its checkpoint, ready for ``train`` to continue it.

    ``overrides`` change config fields (e.g. ``num_epochs`` to train longer); the RNG state
    is restored, so on the CPU the continuation matches an uninterrupted run exactly.
    """
    state = read_checkpoint(path)
    values = {**state["config"], **overrides}
    if device is not None:
        values["device"] = device
    run = new_run(TrainConfig.from_dict(values))
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
