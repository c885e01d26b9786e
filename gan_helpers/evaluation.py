"""Measuring generators: every metric in the feature space of the project's own classifier.

Fréchet distance (as in FID), kernel distance (KID), a classifier-based inception score,
precision and recall of the k-nearest-neighbour manifolds (Kynkäänniemi et al., 2019) and the
class distribution, each against real training images (``Reference``), with a real-data row for
comparison; for a conditional generator also the accuracy and distance of each class.
Inception-v3 (behind the usual FID) needs downloaded weights and sees 28x28 clothing poorly; a
classifier trained on Fashion-MNIST knows what makes a sneaker a sneaker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm.auto import tqdm

from gan_helpers.config import ClassifierConfig
from gan_helpers.data import CLASS_NAMES, BatchIterator, ImageData, load_fashion_mnist, scale, take_subset
from gan_helpers.models import FashionClassifier, generate, grid_labels, metric_samples
from gan_helpers.runs import load_classifier

# --- The metrics, on feature vectors (float64 tensors [N, D]).


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) of Gaussians fitted to a, b."""
    _check_pair(a, b, minimum=2)
    a, b = a.double(), b.double()
    mean_a, mean_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T).reshape(a.shape[1], -1), torch.cov(b.T).reshape(b.shape[1], -1)
    root_a = sqrtm_psd(cov_a)
    # tr((A B)^1/2) equals tr((A^1/2 B A^1/2)^1/2), whose argument is symmetric: eigh is exact.
    middle = sqrtm_psd(root_a @ cov_b @ root_a)
    value = (mean_a - mean_b).square().sum() + cov_a.trace() + cov_b.trace() - 2 * middle.trace()
    return max(value.item(), 0.0)


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """The symmetric square root of a positive semi-definite matrix (tiny negative eigenvalues -> 0)."""
    matrix = (matrix + matrix.T) / 2
    values, vectors = torch.linalg.eigh(matrix)
    return (vectors * values.clamp(min=0).sqrt()) @ vectors.T


def kernel_distance(
    a: torch.Tensor, b: torch.Tensor, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over random subsets."""
    _check_pair(a, b, minimum=2)
    size = min(subset_size, len(a), len(b))
    generator = torch.Generator().manual_seed(seed)
    values = []
    for _ in range(num_subsets):
        x = a[torch.randperm(len(a), generator=generator)[:size]].double()
        y = b[torch.randperm(len(b), generator=generator)[:size]].double()
        values.append(_mmd2_unbiased(x, y))
    values = torch.tensor(values)
    return values.mean().item(), (values.std().item() if num_subsets > 1 else 0.0)


def _mmd2_unbiased(x: torch.Tensor, y: torch.Tensor) -> float:
    dim, n = x.shape[1], len(x)
    k_xx, k_yy, k_xy = ((p @ q.T / dim + 1) ** 3 for p, q in ((x, x), (y, y), (x, y)))
    off_diagonal = (k_xx.sum() - k_xx.trace() + k_yy.sum() - k_yy.trace()) / (n * (n - 1))
    return (off_diagonal - 2 * k_xy.mean()).item()


def inception_score(probabilities: torch.Tensor, splits: int = 10) -> tuple[float, float]:
    """exp(E_x KL(p(y|x) || p(y))) with the classifier's probabilities; mean and std over splits."""
    if probabilities.ndim != 2 or len(probabilities) < splits:
        raise ValueError(f"need [N, classes] probabilities with N >= splits={splits}")
    scores = []
    for part in probabilities.double().chunk(splits):
        marginal = part.mean(0, keepdim=True)
        kl = (part * (part.clamp_min(1e-12).log() - marginal.clamp_min(1e-12).log())).sum(1)
        scores.append(math.exp(kl.mean().item()))
    scores = torch.tensor(scores)
    return scores.mean().item(), (scores.std().item() if splits > 1 else 0.0)


def class_distribution(probabilities: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Share of samples the classifier puts in each class, and its entropy in bits.

    A generator that draws all ten classes equally has entropy log2(10) = 3.32 bits;
    mode collapse shows up as a lower value.
    """
    counts = torch.bincount(probabilities.argmax(1), minlength=probabilities.shape[1]).double()
    share = counts / counts.sum()
    entropy = max(0.0, -(share[share > 0] * share[share > 0].log2()).sum().item())  # no -0.0
    return share, entropy


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    """Precision: share of fakes inside the real manifold; recall: share of reals inside the fake one.

    A manifold is the union of balls around its points, each ball reaching the point's k-th
    nearest neighbour in the same set.
    """
    _check_pair(real, fake, minimum=k + 1)
    real_radii, fake_radii = _kth_neighbour_distance(real, k), _kth_neighbour_distance(fake, k)
    precision = _inside_share(fake, real, real_radii)
    recall = _inside_share(real, fake, fake_radii)
    return precision, recall


def _kth_neighbour_distance(points: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    points = points.float()
    radii = []
    for start in range(0, len(points), chunk):
        distances = torch.cdist(points[start : start + chunk], points)
        radii.append(distances.kthvalue(k + 1, dim=1).values)  # +1: the point itself is at 0
    return torch.cat(radii)


def _inside_share(queries: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, chunk: int = 2048):
    queries, centres = queries.float(), centres.float()
    inside = []
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start : start + chunk], centres)
        inside.append((distances <= radii).any(1))
    return torch.cat(inside).float().mean().item()


def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor, k: int = 1, chunk: int = 1024):
    """Indices [N, k] and distances of each query's k nearest rows of ``pool`` (Euclidean)."""
    queries, pool = queries.flatten(1).float(), pool.flatten(1).float()
    found_index, found_distance = [], []
    for start in range(0, len(queries), chunk):
        distances = torch.cdist(queries[start : start + chunk], pool)
        values, indices = distances.topk(k, dim=1, largest=False)
        found_index.append(indices)
        found_distance.append(values)
    return torch.cat(found_index), torch.cat(found_distance)


def _check_pair(a: torch.Tensor, b: torch.Tensor, minimum: int) -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        shapes = f"{tuple(a.shape)} and {tuple(b.shape)}"
        raise ValueError(f"features must be [N, D] with the same D, got {shapes}")
    if len(a) < minimum or len(b) < minimum:
        raise ValueError(f"need at least {minimum} samples in each set, got {len(a)} and {len(b)}")


# --- The classifier's view of images.


def train_classifier(config: ClassifierConfig, train: ImageData, test: ImageData, device) -> tuple:
    """Adam with a one-cycle schedule and random horizontal flips; returns (model, test accuracy)."""
    torch.manual_seed(config.seed)
    model = FashionClassifier(len(train.class_names)).to(device)
    batches = BatchIterator(train, config.batch_size, device=device, drop_last=True, seed=config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.num_epochs * len(batches)
    )
    for epoch in range(config.num_epochs):
        model.train()
        for images, labels in tqdm(batches, desc=f"classifier epoch {epoch + 1}", leave=False):
            flip = torch.rand(len(images), 1, 1, 1, device=device) < 0.5
            images = torch.where(flip, images.flip(-1), images)  # clothes look alike mirrored
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = evaluate_accuracy(model, test, device)
        print(f"epoch {epoch + 1}/{config.num_epochs}: test accuracy {accuracy:.2%}", flush=True)
    return model.eval(), accuracy


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageData, device) -> float:
    """Share of ``data`` the model labels correctly."""
    predictions = predict(model, data.images, device).argmax(1)
    return (predictions == data.labels.to(predictions.device)).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device="cpu", batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities [N, classes] for uint8 or [-1, 1] float images."""
    return torch.cat([F.softmax(model(b), 1) for b in _batches(images, device, batch_size)]).cpu()


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, device="cpu", batch_size: int = 1000):
    """The 128-d penultimate-layer features [N, 128] (float64 on the CPU, for the statistics)."""
    return torch.cat([model.features(b) for b in _batches(images, device, batch_size)]).double().cpu()


def _batches(images: torch.Tensor, device, batch_size: int):
    was_uint8 = images.dtype == torch.uint8
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        yield scale(batch) if was_uint8 else batch.float()



# --- Evaluating generators against real images.

COLUMNS = ("FD", "KID x1e3", "IS", "precision", "recall", "class entropy")


@dataclass
class Reference:
    """The classifier and ``count`` real training images (and their features) to compare against."""

    classifier: nn.Module
    images: torch.Tensor  # uint8 [count, 1, 28, 28]
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
    def build(
        cls,
        count: int = 10_000,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        train: ImageData | None = None,
        classifier: nn.Module | None = None,
    ) -> Reference:
        """``count`` images of ``train`` (default: Fashion-MNIST's training split), chosen by ``seed``."""
        classifier = classifier if classifier is not None else load_classifier(device=device)
        subset = take_subset(train if train is not None else load_fashion_mnist(train=True), count, seed=seed)
        features = extract_features(classifier, subset.images, device)
        scale = features.square().mean().sqrt().item()
        device = torch.device(device)
        return cls(classifier, subset.images, features / scale, subset.labels, count, device, scale)


def evaluate_images(images: torch.Tensor, reference: Reference) -> dict[str, float]:
    """All metrics for a set of images (uint8, or float in [-1, 1]) against real training images."""
    features = reference.features(images)
    probabilities = predict(reference.classifier, images, reference.device)
    kid_mean, kid_std = kernel_distance(features, reference.train_features)
    precision, recall = precision_recall(reference.train_features, features)
    share, entropy = class_distribution(probabilities)
    return {
        "FD": frechet_distance(features, reference.train_features),
        "KID x1e3": kid_mean * 1e3,
        "KID std x1e3": kid_std * 1e3,
        "IS": inception_score(probabilities, splits=10)[0],
        "precision": precision,
        "recall": recall,
        "class entropy": entropy,
        "class share": share.tolist(),
        "samples": len(images),
    }


def evaluate_generator(generator: nn.Module, reference: Reference, count: int = 10_000, seed: int = 0):
    """Metrics of ``count`` samples (noise seed ``seed``) of a generator."""
    return evaluate_images(metric_samples(generator.to(reference.device), count, seed), reference)


def frechet_and_entropy(generator: nn.Module, reference: Reference, seed: int = 0) -> tuple[float, float]:
    """FD and class entropy of ``reference.count`` samples: the cheap pair tracked during training."""
    images = metric_samples(generator, reference.count, seed)
    _, entropy = class_distribution(predict(reference.classifier, images, reference.device))
    return frechet_distance(reference.features(images), reference.train_features), entropy


def test_images(count: int = 10_000) -> torch.Tensor:
    """The first ``count`` Fashion-MNIST test images (uint8): real images no generator has seen."""
    return load_fashion_mnist(train=False).images[:count]


def evaluate_real(reference: Reference, count: int = 10_000, test: ImageData | None = None) -> dict:
    """The same metrics for real test images: what a perfect generator would score."""
    test = test if test is not None else load_fashion_mnist(train=False)
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
        frechet_distance(fake_features[requested == c], reference.train_features[real_labels == c])
        for c in range(10)
    ]
    return ConditionalReport(CLASS_NAMES, accuracy, distance, per_class)
