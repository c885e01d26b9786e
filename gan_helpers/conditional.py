"""Does a conditional generator draw what it is asked for? Accuracy and distance per class.

The project's classifier labels each sample; the share labelled with the requested class is
the conditional accuracy. The Fréchet distance per class compares the samples of one class with
real training images of that class only, so a model cannot hide a bad class behind good ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan_helpers import metrics
from gan_helpers.classifier import predict
from gan_helpers.data import CLASS_NAMES
from gan_helpers.evaluation import Reference
from gan_helpers.sampling import generate, grid_labels


@dataclass
class ConditionalReport:
    """Per-class results of a conditional generator, ``per_class`` samples of each class."""

    class_names: tuple[str, ...]
    accuracy: list[float]  # share of samples the classifier puts in the requested class
    distance: list[float]  # FD to the real images of the same class, in classifier features
    per_class: int

    @property
    def overall_accuracy(self) -> float:
        return sum(self.accuracy) / len(self.accuracy)

    def table(self) -> str:
        lines = [f"{'class':<14}{'accuracy':>10}{'FD':>9}", "-" * 33]
        for name, accuracy, distance in zip(self.class_names, self.accuracy, self.distance, strict=True):
            lines.append(f"{name:<14}{accuracy:>10.1%}{distance:>9.2f}")
        mean_distance = sum(self.distance) / len(self.distance)
        lines.append(f"{'overall':<14}{self.overall_accuracy:>10.1%}{mean_distance:>9.2f}")
        return "\n".join(lines)


def conditional_accuracy(predicted: torch.Tensor, requested: torch.Tensor, num_classes: int) -> list[float]:
    """For each class, the share of samples asked for it that were classified as it."""
    if predicted.shape != requested.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(requested)} requested labels")
    hits = (predicted == requested).double()
    counts = torch.bincount(requested, minlength=num_classes).clamp(min=1)
    return (torch.bincount(requested, weights=hits, minlength=num_classes) / counts).tolist()


def evaluate_conditional(
    generator: nn.Module,
    per_class: int = 1000,
    seed: int = 0,
    device: str | torch.device = "cpu",
    reference: Reference | None = None,
) -> ConditionalReport:
    """Accuracy and FD for each class of a Fashion-MNIST conditional generator.

    ``reference`` (default: ``10 * per_class`` training images, seed ``seed``) supplies the
    classifier and the real images of each class.
    """
    if getattr(generator, "num_classes", None) != 10:
        raise ValueError("evaluate_conditional needs a conditional generator trained on Fashion-MNIST")
    if per_class < 2:
        raise ValueError(f"per_class = {per_class}: need at least 2 samples of each class")
    reference = reference or Reference.build(count=min(60_000, 10 * per_class), seed=seed, device=device)
    requested = grid_labels(10 * per_class, 10)  # per_class of each class, class by class
    images = generate(generator.to(reference.device), len(requested), seed, requested)
    predicted = predict(reference.classifier, images, reference.device).argmax(1)
    accuracy = conditional_accuracy(predicted, requested, 10)
    fake_features, real_labels = reference.features(images), reference.train_labels
    distance = [
        metrics.frechet_distance(fake_features[requested == c], reference.train_features[real_labels == c])
        for c in range(10)
    ]
    return ConditionalReport(CLASS_NAMES, accuracy, distance, per_class)
