"""Chapter 05: the metrics of sample quality, on feature vectors (float64 tensors [N, D]) of real and
generated images: Fréchet distance (as in FID), kernel distance (KID), a classifier-based
inception score, the class distribution, precision and recall of the k-nearest-neighbour
manifolds (Kynkäänniemi et al., 2019), and nearest neighbours for memorisation checks."""

from __future__ import annotations

import math

import torch


def frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a^1/2 S_b S_a^1/2)^1/2) of Gaussians fitted to a, b."""
    check_features(a, b, minimum=2)
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
    """KID: unbiased MMD^2 with the kernel (x.y / d + 1)^3, mean and std over random subsets.

    Subsets hold ``subset_size`` points, or half the smaller set where that has no more: subsets
    of a whole set would all be the same, and their spread a meaningless 0.
    """
    check_features(a, b, minimum=2)
    smaller = min(len(a), len(b))
    size = subset_size if subset_size < smaller else max(2, smaller // 2)
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
    check_features(real, fake, minimum=k + 1)
    real_radii, fake_radii = _kth_neighbour_distance(real, k), _kth_neighbour_distance(fake, k)
    precision = _inside_share(fake, real, real_radii)
    recall = _inside_share(real, fake, fake_radii)
    return precision, recall


def _kth_neighbour_distance(points: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    points = points.float()
    radii = []
    for start in range(0, len(points), chunk):
        distances = torch.cdist(points[start : start + chunk], points)
        # the k+1 smallest (the point itself is at 0); topk is faster than kthvalue on a CPU
        radii.append(distances.topk(k + 1, dim=1, largest=False).values[:, k])
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


def check_features(a: torch.Tensor, b: torch.Tensor, minimum: int) -> None:
    """Two feature sets [N, D] of one width D, each of at least ``minimum`` rows: tensors, not settings."""
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        shapes = f"{tuple(a.shape)} and {tuple(b.shape)}"
        raise ValueError(f"features must be [N, D] with the same D, got {shapes}")
    if len(a) < minimum or len(b) < minimum:
        raise ValueError(f"need at least {minimum} samples in each set, got {len(a)} and {len(b)}")
