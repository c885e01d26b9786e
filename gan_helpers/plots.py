"""Pictures for the notebooks: image grids, one-row-per-class grids and loss curves."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torchvision.utils import make_grid, save_image

from gan_helpers.data import ImageData


def to_grid(images: torch.Tensor, nrow: int = 10) -> torch.Tensor:
    """Tile images in [-1, 1] (or uint8) into one [3, H, W] float picture in [0, 1]."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    else:
        images = images.detach().float().cpu().add(1.0).div(2.0)
    return make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)


def show_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show a grid of images inline; returns the matplotlib Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6))
    ax.imshow(to_grid(images, nrow).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 10) -> Path:
    """Save images in [-1, 1] as one PNG grid (via torchvision's ``save_image``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(to_grid(images, nrow), path)
    return path


def examples_per_class(data: ImageData, per_class: int = 10, seed: int = 0) -> torch.Tensor:
    """``per_class`` random images of each class, class by class (row by row in a grid)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for label in range(len(data.class_names)):
        members = (data.labels == label).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} images, fewer than {per_class}")
        rows.append(data.images[members[torch.randperm(len(members), generator=generator)]][:per_class])
    return torch.cat(rows)


def show_class_grid(images: torch.Tensor, class_names: Sequence[str], title: str | None = None):
    """A grid with one row per class, the class name at the left of its row."""
    per_class = len(images) // len(class_names)
    fig, ax = plt.subplots(figsize=(per_class * 0.6 + 1.5, len(class_names) * 0.6))
    show_grid(images, nrow=per_class, title=title, ax=ax)
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([30 * row + 16 for row in range(len(class_names))], class_names)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def plot_history(history: Mapping[str, Sequence[float]], keys: Sequence[str], ax=None, title=None):
    """Plot the named series of a training history against the step number."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    steps = history["step"]
    marker = "." if len(steps) < 30 else None  # a short history is still visible
    for key in keys:
        ax.plot(steps, history[key], label=key, linewidth=1, marker=marker)
    ax.set_xlabel("batch")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def make_gif(frames: Sequence[str | Path], path: str | Path, seconds_per_frame: float = 0.4) -> Path:
    """Write the PNG ``frames`` (e.g. a run's epoch grids) as a looping GIF animation."""
    from PIL import Image

    if not frames:
        raise ValueError("make_gif needs at least one frame; did the run save any epoch grids?")
    images = [Image.open(frame).convert("L") for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = int(seconds_per_frame * 1000)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path
