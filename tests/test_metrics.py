"""Metrics against closed forms, scipy and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gan_helpers import metrics


def gaussian(n, mean, scale, seed, dim=4):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=generator, dtype=torch.float64) * scale + mean


def test_frechet_distance_of_identical_sets_is_zero():
    a = gaussian(500, 0.0, 1.0, seed=0)
    assert metrics.frechet_distance(a, a.clone()) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_of_shifted_gaussians_matches_closed_form():
    # N(0, I) vs N(m, s^2 I) in d dims: |m|^2 d + d (1 - s)^2 for the population; use the
    # sample moments in the formula and compare with scipy's sqrtm on the same moments.
    a, b = gaussian(4000, 0.0, 1.0, seed=1), gaussian(4000, 0.5, 2.0, seed=2)
    closed = 4 * 0.5**2 + 4 * (1 - 2.0) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(closed, rel=0.05)


def test_frechet_distance_matches_scipy_on_random_covariances():
    rng = np.random.default_rng(3)
    a = torch.from_numpy(rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)))
    b = torch.from_numpy(rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6)) + 1.0)
    mu_a, mu_b = a.numpy().mean(0), b.numpy().mean(0)
    cov_a, cov_b = np.cov(a.numpy().T), np.cov(b.numpy().T)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    expected = ((mu_a - mu_b) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root)
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_kid_is_near_zero_for_the_same_distribution_and_positive_otherwise():
    a, b = gaussian(2000, 0.0, 1.0, seed=4), gaussian(2000, 0.0, 1.0, seed=5)
    mean, std = metrics.kernel_distance(a, b, num_subsets=20, subset_size=500)
    assert abs(mean) < 3 * std + 1e-3 and std > 0  # unbiased: centred on 0, can be negative
    far = gaussian(2000, 1.0, 1.0, seed=6)
    shifted, _ = metrics.kernel_distance(a, far, num_subsets=20, subset_size=500)
    assert shifted > 0.1


def test_kid_matches_hand_computation_on_tiny_sets():
    x = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([[0.0], [3.0]], dtype=torch.float64)
    k = lambda p, q: (p * q + 1) ** 3  # noqa: E731  (d = 1)
    expected = k(1, 2) * 2 / 2 + k(0, 3) * 2 / 2 - 2 * (k(1, 0) + k(1, 3) + k(2, 0) + k(2, 3)) / 4
    mean, _ = metrics.kernel_distance(x, y, num_subsets=1, subset_size=2)
    assert mean == pytest.approx(expected)


def test_inception_score_bounds():
    confident_uniform = torch.eye(10).repeat(10, 1)  # sure of each class, all classes equally
    assert metrics.inception_score(confident_uniform, splits=1)[0] == pytest.approx(10.0)
    undecided = torch.full((100, 10), 0.1)
    assert metrics.inception_score(undecided, splits=2)[0] == pytest.approx(1.0)
    collapsed = torch.eye(10)[torch.zeros(100, dtype=torch.long)]
    assert metrics.inception_score(collapsed, splits=1)[0] == pytest.approx(1.0)


def test_class_distribution_entropy():
    uniform = torch.eye(10).repeat(5, 1)
    share, entropy = metrics.class_distribution(uniform)
    assert torch.allclose(share, torch.full((10,), 0.1, dtype=torch.float64))
    assert entropy == pytest.approx(math.log2(10))
    two_classes = torch.eye(10)[torch.tensor([0, 1] * 10)]
    assert metrics.class_distribution(two_classes)[1] == pytest.approx(1.0)


def test_precision_recall_of_same_and_disjoint_sets():
    a, b = gaussian(500, 0.0, 1.0, seed=7), gaussian(500, 0.0, 1.0, seed=8)
    precision, recall = metrics.precision_recall(a, b, k=3)
    assert precision > 0.8 and recall > 0.8
    far = gaussian(500, 100.0, 1.0, seed=9)
    assert metrics.precision_recall(a, far, k=3) == (0.0, 0.0)
    collapsed = a[:1].repeat(500, 1) + 1e-3 * gaussian(500, 0.0, 1.0, seed=10)  # one mode only
    precision, recall = metrics.precision_recall(a, collapsed, k=3)
    assert precision > 0.9 and recall < 0.05  # realistic but not diverse


def test_nearest_neighbours_and_input_checks():
    pool = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0]])
    index, distance = metrics.nearest_neighbours(torch.tensor([[9.0, 0.0], [0.0, 4.0]]), pool, k=2)
    assert index.tolist() == [[1, 0], [2, 0]]
    assert distance[:, 0].tolist() == pytest.approx([1.0, 1.0])
    with pytest.raises(ValueError, match="same D"):
        metrics.frechet_distance(torch.zeros(5, 3), torch.zeros(5, 4))
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.frechet_distance(torch.zeros(1, 3), torch.zeros(5, 3))


def test_kid_has_a_real_spread_even_for_fewer_samples_than_a_subset():
    generator = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 8, generator=generator), torch.randn(500, 8, generator=generator) + 0.5
    mean, spread = metrics.kernel_distance(a, b, num_subsets=20, subset_size=1000)
    assert mean > 0 and spread > 0  # subsets of half the points differ from each other
