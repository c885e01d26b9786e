"""Chapter 10: augmentation for little data. With a few hundred images a discriminator learns them
by heart and the generator collapses; showing it every image, real *and* fake, through the same
kind of random change (DiffAugment, Zhao et al. 2020) leaves it nothing fixed to memorise. The
changes are differentiable, so the generator's gradient flows back through them. ``adaptive``
sets how often they happen from the discriminator's outputs on real images (ADA, Karras et al.
2020): often when it overfits, rarely when it does not.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from gan_helpers.checks import one_of

AUGMENTS = ("none", "diff", "adaptive")
TARGET = 0.6  # ADA's target for E[sign(D(real))]: above it, the discriminator is too sure of the reals
ADJUST_EVERY = 4  # batches between adjustments of p
ADJUST_IMAGES = 10_000  # real images seen while p can move from 0 to 1 (ADA: 500k, for far longer runs)


def translation(images: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Each image shifted by up to ``ratio`` of its side in x and y, zeros (mid-grey) moved in."""
    n, _, height, width = images.shape
    shift = int(height * ratio + 0.5)
    dy, dx = (torch.randint(-shift, shift + 1, (n, 1, 1), device=images.device) for _ in range(2))
    rows = (torch.arange(height, device=images.device).view(1, -1, 1) + dy).clamp(-1, height) + 1
    cols = (torch.arange(width, device=images.device).view(1, 1, -1) + dx).clamp(-1, width) + 1
    padded = F.pad(images, (1, 1, 1, 1)).permute(0, 2, 3, 1)  # a zero border for what moves in
    batch = torch.arange(n, device=images.device).view(n, 1, 1)
    return padded[batch, rows, cols].permute(0, 3, 1, 2)  # a gather: gradients flow to the pixels kept


def cutout(images: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Each image with a square of ``ratio`` of its side, at a random place, set to zero."""
    n, _, height, width = images.shape
    side = int(height * ratio + 0.5)
    top = torch.randint(0, height, (n, 1, 1), device=images.device) - side // 2
    left = torch.randint(0, width, (n, 1, 1), device=images.device) - side // 2
    rows = torch.arange(height, device=images.device).view(1, -1, 1)
    cols = torch.arange(width, device=images.device).view(1, 1, -1)
    hole = (rows >= top) & (rows < top + side) & (cols >= left) & (cols < left + side)
    return images * (~hole).unsqueeze(1)


def colour(images: torch.Tensor) -> torch.Tensor:
    """Random brightness, saturation and contrast of colour images; grey ones pass unchanged
    (on Fashion-MNIST's black backgrounds, shifting every image's brightness let the generator's
    backgrounds drift: benchmarks/README.md, *Chapter 10's little data*)."""
    if images.size(1) != 3:
        return images
    n = len(images)
    images = images + (torch.rand(n, 1, 1, 1, device=images.device) - 0.5)  # brightness
    mean = images.mean(dim=1, keepdim=True)
    images = (images - mean) * (torch.rand(n, 1, 1, 1, device=images.device) * 2) + mean  # saturation
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return (images - mean) * (torch.rand(n, 1, 1, 1, device=images.device) + 0.5) + mean  # contrast


TRANSFORMS = (colour, translation, cutout)  # DiffAugment's policy "color,translation,cutout"


def augment(images: torch.Tensor, p: float = 1.0) -> torch.Tensor:
    """Each transform applied to each image with probability ``p`` (1: to every image)."""
    for transform in TRANSFORMS:
        if p >= 1:
            images = transform(images)
        elif p > 0:
            chosen = torch.rand(len(images), 1, 1, 1, device=images.device) < p
            images = torch.where(chosen, transform(images), images)
    return images


class Augmentation:
    """What the discriminator sees: ``install(discriminator)`` makes every call of it, in the
    steps as written, score augmented images; the step code does not change. ``p`` is how often
    each transform happens: 1 for ``diff``; for ``adaptive`` it starts at 0 and ``adjust`` moves it."""

    def __init__(self, mode: str, p: float | None = None) -> None:
        one_of("augment", mode, AUGMENTS[1:])  # "none" installs nothing: no Augmentation at all
        self.adaptive = mode == "adaptive"
        self.p = float(p if p is not None else (0.0 if self.adaptive else 1.0))

    def install(self, discriminator: nn.Module):
        """A forward pre-hook on ``discriminator``; its ``remove()`` takes it off."""
        return discriminator.register_forward_pre_hook(self.before_discriminator)

    def before_discriminator(self, module: nn.Module, args: tuple) -> tuple:
        """The images (the first argument; a label may follow), augmented."""
        return (augment(args[0], self.p), *args[1:])

    @torch.no_grad()
    def adjust(
        self, discriminator: nn.Module, real: torch.Tensor, labels: torch.Tensor | None = None
    ) -> float:
        """ADA's rule: r = E[sign(D(real))]; above the target the discriminator is overfitting, so
        p rises, below it p falls, by at most 1 over ``ADJUST_IMAGES`` real images. Returns r."""
        condition = () if labels is None else (labels,)
        overfit = torch.sign(discriminator(real, *condition)).mean().item()
        step = len(real) * ADJUST_EVERY / ADJUST_IMAGES
        self.p = min(1.0, max(0.0, self.p + step * (1 if overfit > TARGET else -1)))
        return overfit
