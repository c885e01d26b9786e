"""Chapters 02-06 and 09: drawing images from a trained generator. Seeded noise and, for a
conditional generator, the labels (every class in turn, or in rows of a grid); the samples the
metrics measure; and the paths through the latent space that chapters 05 and 06 walk."""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn

from gan_helpers.checks import check_seed, integer
from gan_helpers.models import is_conditional


@contextmanager
def eval_mode(model: nn.Module):
    """Eval mode inside (batch norm uses its running statistics), the previous mode after."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@torch.no_grad()
def generate(
    generator: nn.Module, count: int = 100, seed: int = 0, labels: torch.Tensor | None = None
) -> torch.Tensor:
    """``count`` images in [-1, 1] on the CPU; the same ``seed`` gives the same images.

    A conditional generator draws ``labels`` (default: every class equally, in order).
    """
    count = integer("count", count, 1)
    check_seed(seed)
    noise = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    if labels is None and is_conditional(generator):
        labels = grid_labels(count, generator.num_classes)
    return generate_from(generator, noise, labels)


@torch.no_grad()
def generate_from(generator: nn.Module, noise: torch.Tensor, labels: torch.Tensor | None = None):
    """The images for given noise (and labels, if conditional), in eval mode, on the CPU."""
    device = next(generator.parameters()).device
    condition = () if labels is None else (check_labels(generator, labels, len(noise)).to(device),)
    with eval_mode(generator):
        return generator(noise.to(device), *condition).float().cpu()


def check_labels(generator: nn.Module, labels: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` whole class numbers the conditional ``generator`` knows, as int64: tensors, not settings."""
    if not is_conditional(generator):
        raise ValueError("this generator is not conditional: call it without labels")
    classes = generator.num_classes
    labels = torch.as_tensor(labels)
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise ValueError(f"labels must be whole class numbers 0..{classes - 1}, got {labels.dtype} values")
    labels = labels.long()
    if labels.shape != (count,) or labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"need {count} labels in 0..{classes - 1}, got shape {tuple(labels.shape)}")
    return labels


def grid_labels(count: int, num_classes: int) -> torch.Tensor:
    """``count`` labels covering the classes in order and equally (rows of a 10x10 grid for 10)."""
    return torch.arange(count) * num_classes // count


def cycled_labels(count: int, num_classes: int) -> torch.Tensor:
    """Labels 0, 1, ..., num_classes - 1, 0, 1, ...: every stretch of the samples is balanced.

    Metrics that split the samples (the inception score does) need this; grid labels would
    give each split a single class.
    """
    return torch.arange(count) % num_classes


def metric_samples(generator: nn.Module, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` images for measuring a generator: a conditional one draws all classes, cycled."""
    labels = cycled_labels(count, generator.num_classes) if is_conditional(generator) else None
    return generate(generator, count, seed, labels)


@torch.no_grad()
def morph_classes(generator: nn.Module, z: torch.Tensor, start: int, end: int, steps: int = 8):
    """Images for one noise vector ``z`` while the label embedding slides from ``start`` to ``end``."""
    if not hasattr(generator, "from_embedding"):
        raise ValueError("morph_classes needs a conditional generator (model 'cgan')")
    if steps < 2:
        raise ValueError(f"steps = {steps}: need at least 2")
    device = next(generator.parameters()).device
    ends = generator.embed(torch.tensor([start, end], device=device))
    t = torch.linspace(0, 1, steps, device=device).unsqueeze(1)
    with eval_mode(generator):
        images = generator.from_embedding(z.to(device).expand(steps, -1), (1 - t) * ends[0] + t * ends[1])
    return images.float().cpu()


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the great circle from z0 to z1 (rows of [steps, latent_dim]).

    Gaussian noise vectors live near a sphere of radius sqrt(latent_dim); a straight line
    between two of them passes through the less likely inside, a spherical path does not.
    """
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"slerp needs two vectors of one shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if steps < 2:
        raise ValueError(f"steps = {steps}: need at least 2")
    t = torch.linspace(0, 1, steps, dtype=z0.dtype).unsqueeze(1)
    omega = torch.arccos(torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1))
    if omega.abs() < 1e-6:  # (nearly) parallel: the straight line is the arc
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
