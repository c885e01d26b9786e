"""Chapter 05: checks that the quality metrics measure what they claim: real test images made worse step by
step (blurred, noised, classes removed, replaced by near-copies of a few training images), and
what FD, precision and recall say at each step, in each feature space.

A metric that is any good grows (FD) or falls (precision, recall) with the damage, and reads
near zero for real test images against real training images.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torchvision.transforms.functional import gaussian_blur

from gan_helpers.data import ImageData, load_fashion_mnist, take_subset
from gan_helpers.evaluation import Reference
from gan_helpers.metrics import frechet_distance, precision_recall


def blurred(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """uint8 images through a Gaussian blur of standard deviation ``sigma`` pixels (0: unchanged)."""
    if sigma == 0:
        return images
    size = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur(images.float(), [size, size], [sigma, sigma]).round().clamp(0, 255).to(torch.uint8)


def noised(images: torch.Tensor, std: float, seed: int = 0) -> torch.Tensor:
    """uint8 images plus Gaussian noise of ``std`` grey levels out of 255."""
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(seed)) * std
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def without_classes(test: ImageData, removed: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` test images drawn from all classes but the first ``removed``: a generator that
    never draws some classes."""
    kept = test.labels >= removed
    rest = ImageData(test.images[kept], test.labels[kept], test.class_names, test.train)
    return take_subset(rest, count, seed).images


def near_copies(train: ImageData, originals: int, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` images that are copies of only ``originals`` training images, each with a little
    noise (2 grey levels): a generator that memorised a few pictures."""
    pool = take_subset(train, originals, seed=seed + 1).images
    picks = torch.randint(originals, (count,), generator=torch.Generator().manual_seed(seed))
    return noised(pool[picks], 2.0, seed)


@dataclass
class Ladder:
    """One kind of damage: its name, the word for its level, the levels, and how to apply it."""

    name: str
    level_name: str
    levels: tuple[float, ...]
    make: Callable[[float], torch.Tensor]


def ladders(test: ImageData, train: ImageData, count: int, seed: int = 0) -> list[Ladder]:
    """The four kinds of damage, each from mild to severe, on ``count`` test images."""
    images = take_subset(test, count, seed=seed).images
    return [
        Ladder("blurred", "sigma (pixels)", (0.5, 1.0, 1.5), lambda sigma: blurred(images, sigma)),
        Ladder("noised", "std (grey levels)", (8.0, 16.0, 32.0), lambda std: noised(images, std, seed)),
        Ladder("classes removed", "classes", (2, 4, 6), lambda k: without_classes(test, int(k), count, seed)),
        Ladder("near-copies", "originals", (count // 4, count // 16, count // 64),
               lambda k: near_copies(train, int(k), count, seed)),
    ]


def measure(images: torch.Tensor, reference: Reference) -> dict[str, float]:
    """FD, precision and recall of ``images`` in one feature space."""
    features = reference.features(images)
    precision, recall = precision_recall(reference.train_features, features)
    distance = frechet_distance(features, reference.train_features)
    return {"FD": distance, "precision": precision, "recall": recall}


def sensitivity_table(references: list[Reference], count: int = 2_000, seed: int = 0) -> list[dict]:
    """One row per (damage, level), starting with the undamaged test images: what each metric
    says in each space (``references``, built from training images)."""
    test, train = load_fashion_mnist(train=False), load_fashion_mnist(train=True)
    undamaged = take_subset(test, count, seed=seed).images
    rows = [{"damage": "none (test images)", "level": "", "images": undamaged}]
    for ladder in ladders(test, train, count, seed):
        for level in ladder.levels:
            level_text = f"{level:g} {ladder.level_name}"
            rows.append({"damage": ladder.name, "level": level_text, "images": ladder.make(level)})
    for row in rows:
        images = row.pop("images")
        row |= {reference.space: measure(images, reference) for reference in references}
    return rows


def within_class_share(features: torch.Tensor, labels: torch.Tensor) -> float:
    """The share of the features' total variance left once each class's mean is taken away:
    near 0 for a space that sees only the class, near 1 for one that ignores it."""
    means = torch.stack([features[labels == c].mean(0) for c in labels.unique()])
    within = features - means[torch.searchsorted(labels.unique(), labels)]
    return (within.square().sum() / (features - features.mean(0)).square().sum()).item()


def format_sensitivity(rows: list[dict], spaces: list[str]) -> str:
    """The sensitivity table as text: FD, precision and recall in each space."""
    columns = "".join(f"{space + ': FD':>14}{'P':>8}{'R':>8}" for space in spaces)  # over their numbers
    header = f"{'damage':<20}{'level':<24}{columns}"
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = "".join(
            f"{row[s]['FD']:>14.2f}{row[s]['precision']:>8.3f}{row[s]['recall']:>8.3f}" for s in spaces
        )
        lines.append(f"{row['damage']:<20}{row['level']:<24}{cells}")
    return "\n".join(lines)
