"""The hand-written metrics against well-kept references on the same features: torchmetrics'
FID and KID, given the project's own feature extractor through their ``feature=`` module, and a
brute-force precision and recall written straight from the definition."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance

from gan_helpers.data import load_fashion_mnist
from gan_helpers.evaluation import Reference
from gan_helpers.metrics import _mmd2_unbiased, frechet_distance, precision_recall

COUNT = 600


class ProjectFeatures(nn.Module):
    """A feature space of the project as torchmetrics' ``feature=`` module: uint8 images in, features out."""

    def __init__(self, reference: Reference) -> None:
        super().__init__()
        self.reference = reference
        self.num_features = reference.train_features.shape[1]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.reference.features(images)


@pytest.fixture(scope="module", params=["classifier", "encoder"])
def spaces(request):
    """Real training images and held-out test images, and their features in one space."""
    reference = Reference.build(count=COUNT, seed=0, space=request.param)
    test = load_fashion_mnist(train=False).images[:COUNT]
    return reference, test


def test_frechet_distance_agrees_with_torchmetrics_fid(spaces):
    reference, test = spaces
    fid = FrechetInceptionDistance(feature=ProjectFeatures(reference))
    fid.update(reference.images, real=True)
    fid.update(test, real=False)
    ours = frechet_distance(reference.features(test), reference.features(reference.images))
    assert ours == pytest.approx(fid.compute().item(), rel=1e-4)


def test_kernel_distance_agrees_with_torchmetrics_kid(spaces):
    """One subset of every image: torchmetrics' random subset is then the whole set, reordered."""
    reference, test = spaces
    kid = KernelInceptionDistance(feature=ProjectFeatures(reference), subsets=1, subset_size=COUNT)
    kid.update(reference.images, real=True)
    kid.update(test, real=False)
    ours = _mmd2_unbiased(reference.features(reference.images), reference.features(test))
    assert ours == pytest.approx(kid.compute()[0].item(), rel=1e-4)


def brute_force_precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al.'s definition, point by point: a sample is inside a set's manifold if it
    lies within some member's distance to that member's k-th nearest neighbour in the set."""

    def radii(points: torch.Tensor) -> list[float]:
        return [sorted(torch.dist(p, q).item() for q in points)[k] for p in points]  # [0] is p itself

    def share_inside(queries: torch.Tensor, points: torch.Tensor, reach: list[float]) -> float:
        inside = [any(torch.dist(q, p) <= r for p, r in zip(points, reach, strict=True)) for q in queries]
        return sum(inside) / len(inside)

    return share_inside(fake, real, radii(real)), share_inside(real, fake, radii(fake))


def test_precision_and_recall_agree_with_the_definition_point_by_point(spaces):
    reference, test = spaces
    real, fake = reference.train_features[:80], reference.features(test[:70])
    for k in (1, 3):
        assert precision_recall(real, fake, k=k) == pytest.approx(brute_force_precision_recall(real, fake, k))
