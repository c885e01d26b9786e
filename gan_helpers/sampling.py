"""Drawing images from a trained generator."""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def generate(generator: nn.Module, count: int = 100, seed: int = 0) -> torch.Tensor:
    """``count`` images in [-1, 1] on the CPU; the same ``seed`` gives the same images."""
    if count < 1:
        raise ValueError(f"count = {count}: must be at least 1")
    device = next(generator.parameters()).device
    noise = torch.randn(count, generator.latent_dim, generator=torch.Generator().manual_seed(seed))
    was_training = generator.training
    generator.eval()
    images = generator(noise.to(device)).float().cpu()
    generator.train(was_training)
    return images
