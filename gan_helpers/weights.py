"""Trained weights as files: a generator exported from a checkpoint (fp16, a few MB), the
generators, the classifier and the encoder shipped in ``gan_helpers/weights/``, and loading any of them."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan_helpers.checks import RefusalError
from gan_helpers.config import TrainConfig
from gan_helpers.files import atomic_save
from gan_helpers.kinds import MODEL_KINDS, build_generator, get_kind
from gan_helpers.runs import load_weights, read_checkpoint

WEIGHTS_DIR = Path(__file__).parent / "weights"


def check_output(output: str | Path, inputs: list[str | Path], overwrite: bool = False) -> Path:
    """Refuse an output file that is one of the inputs, or that exists (unless ``overwrite``)."""
    output = Path(output)
    if output.is_dir():
        example = output / "generator.pt"
        raise ValueError(f"{output} is a folder; give the file to write, for example {example}")
    if any(Path(source).resolve() == output.resolve() for source in inputs):
        raise ValueError(f"{output} is also the input: writing it would destroy it; give another file name")
    if output.exists() and not overwrite:
        raise RefusalError(
            f"{output} exists; pass overwrite=True to replace it, or a new name",
            f"{output} exists; add --overwrite to replace it, or give a new name",
        )
    return output


def export_generator(
    checkpoint: str | Path, output: str | Path, overwrite: bool = False, best: bool = False
) -> Path:
    """Keep only the generator of a training checkpoint, in half precision (a few MB).

    ``best``: the weights of the epoch with the lowest tracked FD instead of the last ones.
    Exporting an exported file copies it. An existing ``output`` is replaced only if ``overwrite``.
    """
    output = check_output(output, [checkpoint], overwrite)
    state = read_checkpoint(checkpoint)
    if "generator" not in state:
        what = "the metrics' classifier" if state["kind"] == "classifier" else f"a {state['kind']!r} model"
        raise ValueError(f"{checkpoint} holds {what}, not a generator; export a training checkpoint.pt")
    if best and not state.get("best"):
        raise ValueError(
            f"{checkpoint} keeps no best epoch: it was trained without quality tracking (--quality-every 0, "
            "or not on Fashion-MNIST) or is already exported; export it without --best"
        )
    generator = state.get("ema") or state["generator"]  # the averaged weights, where the run kept them
    epoch = state.get("epoch", state["position"]["epoch"])  # an exported file says where it is from
    if best:
        generator, epoch = state["best"]["generator"], state["best"]["epoch"]
    weights = {k: v.half() if v.is_floating_point() else v for k, v in generator.items()}
    # A training checkpoint is averaged if it kept the average; an exported file keeps its flag.
    averaged = bool(state["ema"]) if "ema" in state else bool(state.get("averaged"))
    exported = {
        "format": state["format"],
        "kind": state["kind"],
        "config": state["config"],
        "position": state["position"],
        "generator": weights,
        "averaged": averaged,
        "epoch": epoch,  # the epoch these weights are from
        "fixed_noise": state["fixed_noise"],
        "history": state["history"],  # small, and lets a notebook show how training went
    }
    return atomic_save(exported, output)


def load_generator(
    path: str | Path, device: str | torch.device = "cpu", kind: str | None = None, averaged: bool = True
) -> nn.Module:
    """The generator of a training checkpoint or an exported file, in eval mode.

    ``averaged``: the average of its weights where the checkpoint keeps one (``ema_decay``), else
    the last weights. With ``kind``, a file that holds another model is refused naming both.
    """
    state = read_checkpoint(path)
    if "generator" not in state:
        raise ValueError(f"{path} holds a {state['kind']!r} model, not a generator")
    config = TrainConfig.from_dict(state["config"])
    with torch.random.fork_rng(devices=[]):  # loading never moves the global random state
        generator = build_generator(state["kind"], config.latent_dim, config.num_classes, config.image_shape)
    weights = state.get("ema") if averaged and state.get("ema") else state["generator"]
    load_weights(generator, weights, state["kind"], kind or state["kind"], path)
    generator.kind, generator.class_names = state["kind"], config.class_names
    generator.epoch = state.get("epoch", state["position"]["epoch"])  # the epoch its weights are from
    return generator.to(device).eval()


def load_pretrained(kind: str, device: str | torch.device = "cpu") -> nn.Module:
    """The shipped generator for ``kind`` ("mlp", "dcgan", "wgan-gp", "cgan" or "sngan"), in eval mode."""
    get_kind(kind)
    path = WEIGHTS_DIR / f"{kind}.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no shipped weights for {kind!r} at {path}; train them with "
            f"`python -m gan_helpers train {kind}` and load the checkpoint with load_generator"
        )
    return load_generator(path, device, kind)


def load_history(kind: str) -> dict[str, list[float]]:
    """The training history (losses per logged batch) stored with a shipped generator."""
    get_kind(kind)
    return read_checkpoint(WEIGHTS_DIR / f"{kind}.pt")["history"]


def shipped_names() -> list[str]:
    """The model kinds whose trained generator ships with the package."""
    return [kind for kind in MODEL_KINDS if (WEIGHTS_DIR / f"{kind}.pt").is_file()]


def source_path(name: str) -> Path:
    """The file behind a generator argument: a shipped name's weights, or the path itself."""
    return WEIGHTS_DIR / f"{name}.pt" if name in MODEL_KINDS else Path(name)


def load_any(name: str) -> torch.nn.Module:
    """A shipped generator by model name, or the generator in a checkpoint or exported file."""
    if name in MODEL_KINDS:
        return load_pretrained(name)
    if not Path(name).exists():
        raise FileNotFoundError(
            f"no checkpoint at {name}: give a checkpoint or exported file, or a shipped generator "
            f"({', '.join(shipped_names())})"
        )
    return load_generator(name)
