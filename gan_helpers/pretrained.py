"""The generator weights that ship with the package, and how they are made and loaded."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from gan_helpers.checkpoints import atomic_save, load_weights, read_checkpoint
from gan_helpers.config import TrainConfig
from gan_helpers.models import build_generator, check_kind

WEIGHTS_DIR = Path(__file__).parent / "weights"


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
    generator.kind = state["kind"]
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
