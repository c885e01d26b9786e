"""Evaluate generators: every metric in the classifier's feature space, plus a real-data row."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from gan_helpers import metrics
from gan_helpers.classifier import extract_features, load_classifier, predict
from gan_helpers.data import load_fashion_mnist, take_subset, unscale
from gan_helpers.sampling import metric_samples

COLUMNS = ("FD", "KID x1e3", "IS", "precision", "recall", "class entropy")


@dataclass
class Reference:
    """The classifier and the features of ``count`` real training images to compare against."""

    classifier: nn.Module
    train_features: torch.Tensor
    train_labels: torch.Tensor  # the classes of those images, for per-class comparisons
    count: int
    device: torch.device
    scale: float = 1.0  # divides all features: the training features' root-mean-square entry

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Classifier features in units of the real data's typical entry, so that KID's cubic
        kernel (x.y / d + 1)^3 sees inner products of order 1, as with Inception features."""
        return extract_features(self.classifier, images, self.device) / self.scale

    @classmethod
    def build(cls, count: int = 10_000, seed: int = 0, device: str | torch.device = "cpu") -> Reference:
        classifier = load_classifier(device=device)
        train = take_subset(load_fashion_mnist(train=True), count, seed=seed)
        features = extract_features(classifier, train.images, device)
        scale = features.square().mean().sqrt().item()
        return cls(classifier, features / scale, train.labels, count, torch.device(device), scale)


def evaluate_images(images: torch.Tensor, reference: Reference) -> dict[str, float]:
    """All metrics for a set of images (uint8, or float in [-1, 1]) against real training images."""
    features = reference.features(images)
    probabilities = predict(reference.classifier, images, reference.device)
    kid_mean, kid_std = metrics.kernel_distance(features, reference.train_features)
    precision, recall = metrics.precision_recall(reference.train_features, features)
    share, entropy = metrics.class_distribution(probabilities)
    return {
        "FD": metrics.frechet_distance(features, reference.train_features),
        "KID x1e3": kid_mean * 1e3,
        "KID std x1e3": kid_std * 1e3,
        "IS": metrics.inception_score(probabilities, splits=10)[0],
        "precision": precision,
        "recall": recall,
        "class entropy": entropy,
        "class share": share.tolist(),
        "samples": len(images),
    }


def evaluate_generator(generator: nn.Module, reference: Reference, count: int = 10_000, seed: int = 0):
    """Metrics of ``count`` samples (noise seed ``seed``) of a generator."""
    return evaluate_images(metric_samples(generator.to(reference.device), count, seed), reference)


def evaluate_real(reference: Reference, count: int = 10_000) -> dict[str, float]:
    """The same metrics for real test images: what a perfect generator would score."""
    test = load_fashion_mnist(train=False)
    return evaluate_images(test.images[: min(count, len(test))], reference)


def format_table(rows: dict[str, dict[str, float]]) -> str:
    """A plain-text table, one row per model, with KID's spread."""
    widths = [10, 18, 8, 11, 9, 15]
    header = f"{'model':<14}" + "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True))
    lines = [header, "-" * len(header)]
    for name, row in rows.items():
        cells = [f"{row['FD']:.2f}", f"{row['KID x1e3']:.2f} ± {row['KID std x1e3']:.2f}",
                 f"{row['IS']:.2f}", f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                 f"{row['class entropy']:.3f}"]  # fmt: skip
        lines.append(f"{name:<14}" + "".join(f"{c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    return "\n".join(lines)


def inception_fid(real: torch.Tensor, fake: torch.Tensor) -> tuple[float | None, str]:
    """Inception-v3 FID via torchmetrics when it and its weights are available; else (None, why)."""
    try:
        from torchmetrics.image.fid import FrechetInceptionDistance
    except ImportError:
        return None, "Inception FID skipped: torchmetrics is not installed (pip install torchmetrics[image])"
    try:
        fid = FrechetInceptionDistance(feature=2048)
        for images, is_real in ((real, True), (fake, False)):
            rgb = (images if images.dtype == torch.uint8 else unscale(images)).expand(-1, 3, -1, -1)
            for start in range(0, len(rgb), 500):
                fid.update(rgb[start : start + 500], real=is_real)
        return fid.compute().item(), "Inception FID (torchmetrics)"
    except Exception as error:  # e.g. the Inception weights cannot be downloaded offline
        return None, f"Inception FID skipped: {type(error).__name__}: {str(error).splitlines()[0][:120]}"


def evaluate_paths(paths: list[str], samples: int = 10_000, seed: int = 0, inception: bool = False) -> str:
    """The ``evaluate`` command: a table for generator files (or shipped names) and real data."""
    from gan_helpers.conditional import evaluate_conditional
    from gan_helpers.models import MODEL_KINDS, is_conditional
    from gan_helpers.pretrained import load_generator, load_pretrained

    if samples < 20:
        raise ValueError(f"--samples {samples}: need at least 20 samples for the metrics")
    reference = Reference.build(count=samples, seed=seed)
    rows, notes = {"real (test)": evaluate_real(reference, samples)}, []
    if inception:
        real = take_subset(load_fashion_mnist(train=True), samples, seed=seed).images
    for path in paths:
        generator = load_pretrained(path) if path in MODEL_KINDS else load_generator(path)
        rows[path if path in MODEL_KINDS else generator.kind] = row = evaluate_generator(
            generator, reference, samples, seed
        )
        if inception:
            value, note = inception_fid(real, metric_samples(generator, samples, seed))
            notes.append(f"{path}: {note}" + (f" = {value:.2f}" if value is not None else ""))
        if is_conditional(generator):
            report = evaluate_conditional(generator, samples // 10, seed, reference=reference)
            notes.append(f"{path}: conditional accuracy, {samples // 10} samples per class\n{report.table()}")
        del row["class share"]
    header = (
        f"{samples} samples per row (noise seed {seed}); features: the project's classifier "
        f"(test accuracy {reference.classifier.test_accuracy:.2%}); compared with {samples} training images"
    )
    return "\n".join([header, format_table(rows), *notes])
