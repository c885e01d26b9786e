"""Drawing images from a trained generator."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def generate(generator: nn.Module, count: int = 100, seed: int = 0) -> torch.Tensor:
    """``count`` images in [-1, 1] on the CPU; the same ``seed`` gives the same images."""
    if count < 1:
        raise ValueError(f"count = {count}: must be at least 1")
    noise = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    return generate_from(generator, noise)


@torch.no_grad()
def generate_from(generator: nn.Module, noise: torch.Tensor) -> torch.Tensor:
    """The images for given noise, in eval mode (batch norm uses its running statistics)."""
    device = next(generator.parameters()).device
    was_training = generator.training
    generator.eval()
    images = generator(noise.to(device)).float().cpu()
    generator.train(was_training)
    return images


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
    cosine = torch.dot(z0 / z0.norm(), z1 / z1.norm()).clamp(-1, 1)
    omega = torch.arccos(cosine)
    if omega.abs() < 1e-6:  # (nearly) parallel: the straight line is the arc
        return (1 - t) * z0 + t * z1
    return (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / torch.sin(omega)
