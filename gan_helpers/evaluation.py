"""Chapter 05: measuring generators in two feature spaces: the project's classifier (and its training),
which knows what makes a sneaker a sneaker, and the label-free encoder (``gan_helpers.encoder``),
which sees the detail within a class. A ``Reference`` holds one space's features of real
images; every metric of ``gan_helpers.metrics`` is computed in each, with a real-data row for
comparison, and for a conditional generator the accuracy and distance of each class.

Inception-v3 (behind the usual FID) needs downloaded weights and sees 28x28 clothing poorly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gan_helpers.classifier import features_and_predictions, load_classifier
from gan_helpers.data import CLASS_NAMES, ImageData, load_fashion_mnist, scaled_batches, take_subset, unscale
from gan_helpers.encoder import load_encoder
from gan_helpers.image_folder import HELD_OUT, FolderData
from gan_helpers.metrics import (
    class_distribution,
    frechet_distance,
    inception_score,
    kernel_distance,
    precision_recall,
)
from gan_helpers.models import is_conditional
from gan_helpers.sampling import generate, grid_labels, metric_samples

# --- The classifier's view of images.


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, device="cpu", batch_size: int | None = None):
    """The 128-d penultimate-layer features [N, 128] (float64 on the CPU, for the statistics)."""
    return torch.cat([model.features(b) for b in scaled_batches(images, device, batch_size)]).double().cpu()


# --- Evaluating generators against real images.

COLUMNS = ("FD", "KID x1e3", "IS", "precision", "recall", "class entropy")


SPACES = {  # the feature spaces, and what their features come from
    "classifier": "the project's classifier (trained on the labels)",
    "encoder": "the label-free encoder (trained without labels)",
}


@dataclass
class Reference:
    """One feature space's view of ``count`` real training images, to compare samples against.

    ``network.features`` maps images to the space. In the classifier's space ``classifier`` is
    that network, for the metrics that need class probabilities; in the encoder's it is None.
    """

    network: nn.Module
    images: torch.Tensor  # uint8 [count, channels, side, side]
    train_features: torch.Tensor
    train_labels: torch.Tensor  # the classes of those images, for per-class comparisons
    count: int
    device: torch.device
    scale: float = 1.0  # divides all features: the training features' root-mean-square entry
    space: str = "classifier"

    @property
    def classifier(self) -> nn.Module | None:
        return self.network if self.space == "classifier" else None

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Features in units of the real data's typical entry, so that KID's cubic kernel
        (x.y / d + 1)^3 sees inner products of order 1, as with Inception features."""
        return extract_features(self.network, images, self.device) / self.scale

    def features_and_predictions(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``features(images)`` and, in the classifier's space, its class probabilities from the
        same pass (None in the encoder's)."""
        if self.classifier is None:
            return self.features(images), None
        features, probabilities = features_and_predictions(self.classifier, images, self.device)
        return features / self.scale, probabilities

    @classmethod
    def build(
        cls,
        count: int = 10_000,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        train: ImageData | None = None,
        space: str = "classifier",
        network: nn.Module | None = None,
    ) -> Reference:
        """``count`` images of ``train`` (default: Fashion-MNIST's training split), chosen by
        ``seed``, in ``space`` ("classifier" or "encoder"); ``network`` replaces the shipped one."""
        if space not in SPACES:
            raise ValueError(f"space {space!r}: choose one of {', '.join(SPACES)}")
        if network is None:
            network = load_encoder(device=device) if space == "encoder" else load_classifier(device=device)
        subset = take_subset(train if train is not None else load_fashion_mnist(train=True), count, seed=seed)
        features = extract_features(network, subset.images, device)
        scale = features.square().mean().sqrt().item()
        device = torch.device(device)
        return cls(network, subset.images, features / scale, subset.labels, count, device, scale, space)


def evaluate_images(images: torch.Tensor, reference: Reference) -> dict[str, float]:
    """All metrics for a set of images (uint8, or float in [-1, 1]) against real training images.

    The inception score and the class entropy need class probabilities: NaN outside the
    classifier's space.
    """
    features, probabilities = reference.features_and_predictions(images)
    kid_mean, kid_std = kernel_distance(features, reference.train_features)
    precision, recall = precision_recall(reference.train_features, features)
    row = {
        "space": reference.space,
        "FD": frechet_distance(features, reference.train_features),
        "KID x1e3": kid_mean * 1e3,
        "KID std x1e3": kid_std * 1e3,
        "IS": math.nan,
        "precision": precision,
        "recall": recall,
        "class entropy": math.nan,
        "samples": len(images),
    }
    if probabilities is not None:
        share, row["class entropy"] = class_distribution(probabilities)
        row["IS"], row["class share"] = inception_score(probabilities, splits=10)[0], share.tolist()
    return row


def evaluate_generator(generator: nn.Module, reference: Reference, count: int = 10_000, seed: int = 0):
    """Metrics of ``count`` samples (noise seed ``seed``) of a generator."""
    return evaluate_images(metric_samples(generator.to(reference.device), count, seed), reference)


def tracked_quality(generator: nn.Module, references: list[Reference], seed: int = 0) -> dict[str, float]:
    """What training tracks each epoch, from one set of samples: the FD in each space
    (``fd``: the classifier's, ``fd_encoder``) and the classifier's class entropy."""
    images = metric_samples(generator, references[0].count, seed)
    tracked = {}
    for reference in references:
        features, probabilities = reference.features_and_predictions(images)
        tracked[score_name("fd", reference.space)] = frechet_distance(features, reference.train_features)
        if probabilities is not None:
            tracked["fd_class_entropy"] = class_distribution(probabilities)[1]
    return tracked


def score_name(metric: str, space: str) -> str:
    """A score's name in histories and records: ``fd`` in the classifier's space, ``fd_encoder``
    in the encoder's (the classifier's space was the first, and keeps the plain names)."""
    return metric if space == "classifier" else f"{metric}_{space}"


def held_out_images(count: int = 10_000) -> torch.Tensor:
    """The first ``count`` Fashion-MNIST test images (uint8): real images no generator has seen."""
    return load_fashion_mnist(train=False).images[:count]


def evaluate_real(reference: Reference, count: int = 10_000, test: ImageData | None = None) -> dict:
    """The same metrics for real test images: what a perfect generator would score."""
    test = test if test is not None else load_fashion_mnist(train=False)
    return evaluate_images(test.images[: min(count, len(test))], reference)


def format_table(rows: dict[str, dict | list[dict]]) -> str:
    """A plain-text table, one row per model (a list of rows: one per feature space, with a
    "space" column), with KID's spread; metrics a space does not have read "-"."""
    widths = [10, 18, 8, 11, 9, 15]
    spaced = any(isinstance(row, list) for row in rows.values())
    first = max(14, *(len(name) + 1 for name in rows))  # the longest name still leaves a space
    header = f"{'model':<{first}}" + (f"{'space':<12}" if spaced else "")
    header += "".join(f"{c:>{w}}" for c, w in zip(COLUMNS, widths, strict=True))
    lines = [header, "-" * len(header)]
    for name, group in rows.items():
        for index, row in enumerate(group if isinstance(group, list) else [group]):
            cells = [f"{row['FD']:.2f}", f"{row['KID x1e3']:.2f} ± {row['KID std x1e3']:.2f}",
                     f"{row['IS']:.2f}", f"{row['precision']:.3f}", f"{row['recall']:.3f}",
                     f"{row['class entropy']:.3f}"]  # fmt: skip
            cells = ["-" if cell == "nan" else cell for cell in cells]
            label = f"{name if index == 0 else '':<{first}}" + (f"{row['space']:<12}" if spaced else "")
            aligned = [f"{c:>{w}}" if len(c) < w else f" {c}" for c, w in zip(cells, widths, strict=True)]
            lines.append(label + "".join(aligned))  # a number wider than its column keeps a space before it
    return "\n".join(lines)


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
    fake_features, probabilities = reference.features_and_predictions(images)
    accuracy = conditional_accuracy(probabilities.argmax(1), requested, 10)
    real_labels = reference.train_labels
    distance = [
        frechet_distance(fake_features[requested == c], reference.train_features[real_labels == c])
        for c in range(10)
    ]
    return ConditionalReport(CLASS_NAMES, accuracy, distance, per_class)


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


def evaluation_report(generators: dict[str, nn.Module], samples: int = 10_000, seed: int = 0,
                      inception: bool = False) -> str:  # fmt: skip
    """The ``evaluate`` command's table: ``samples`` of each generator and real test images
    against as many training images, in both feature spaces, then each conditional generator's
    classes."""
    references = [Reference.build(count=samples, seed=seed, space=space) for space in SPACES]
    test = load_fashion_mnist(train=False)
    real_label = "real (test)" if samples <= len(test) else "real (test)*"
    rows = {real_label: [evaluate_real(reference, samples, test) for reference in references]}
    notes = [f"* all {len(test)} test images: the test split has no more"] if samples > len(test) else []
    if inception:
        real = take_subset(load_fashion_mnist(train=True), samples, seed=seed).images
    for name, generator in generators.items():
        images = metric_samples(generator, samples, seed)  # one set of samples, seen in both spaces
        rows[name] = [evaluate_images(images, reference) for reference in references]
        if inception:
            value, note = inception_fid(real, images)
            notes.append(f"{name}: {note}" + (f" = {value:.2f}" if value is not None else ""))
        if is_conditional(generator):
            report = evaluate_conditional(generator, samples // 10, seed, reference=references[0])
            notes.append(f"{name}: conditional accuracy, {samples // 10} samples per class\n{report.table()}")
    accuracy = references[0].classifier.test_accuracy
    header = (
        f"{samples} samples per row (noise seed {seed}), compared with {samples} training images in two "
        f"feature spaces:\n  classifier: {SPACES['classifier']}, test accuracy {accuracy:.2%}\n"
        f"  encoder:    {SPACES['encoder']}; it has no classes, so no IS or class entropy"
    )
    return "\n".join([header, format_table(rows), *notes])


MIN_HELD_OUT = 20  # fewer held-out images than this give an FD of noise


def check_held_out(folder: FolderData) -> None:
    """A folder holds out enough images to measure against, or one line that says so."""
    count, where = len(folder.part(held=True)), folder.record["path"]
    if count < MIN_HELD_OUT:
        raise ValueError(
            f"{where} holds out {count} of its {len(folder.data)} images (one in {HELD_OUT}), and a "
            f"measurement needs at least {MIN_HELD_OUT}: add images (about {HELD_OUT * MIN_HELD_OUT} in all)"
        )


def folder_report(
    generators: dict[str, nn.Module], folder: FolderData, encoder: nn.Module, seed: int = 0
) -> str:
    """``evaluate --data-dir``: each generator against a folder of one's own images, without
    labels, in the space of an encoder trained on the folder (``encoder.encoder_for_folder``).

    The folder's held-out images (never trained on) are the real row: what a perfect generator
    scores, give or take the noise of so few images (a generator well below it in FD may be
    copying its training images). Every row has as many images as that row, a conditional
    generator's in the held-out images' classes, so the numbers compare; the reference is the
    folder's training images.
    """
    check_held_out(folder)
    training, held = folder.part(held=False), folder.part(held=True)
    where = folder.record["path"]
    device = next(encoder.parameters()).device
    reference = Reference.build(len(training), seed, device, train=training, space="encoder", network=encoder)
    rows = {"real (held out)": evaluate_images(held.images, reference)}
    for name, generator in generators.items():
        labels = held.labels if is_conditional(generator) else None
        rows[name] = evaluate_images(generate(generator.to(device), len(held), seed, labels), reference)
    header = (
        f"{len(held)} samples per row (noise seed {seed}) and the {len(held)} held-out images of {where}, "
        f"compared with its {len(training)} training images\nin the space of an encoder trained on them "
        "without labels (no IS or class entropy); the real row is what a perfect generator scores,\n"
        f"give or take the noise of {len(held)} images"
    )
    return "\n".join([header, format_table(rows)])
