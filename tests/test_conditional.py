"""Conditional sampling and the conditional-accuracy metric, checked by hand."""

from __future__ import annotations

import pytest
import torch

from gan_helpers.data import load_fashion_mnist, scale
from gan_helpers.evaluation import Reference, conditional_accuracy, evaluate_generator
from gan_helpers.kinds import build_generator
from gan_helpers.sampling import cycled_labels, generate, grid_labels


def test_conditional_accuracy_counts_hits_per_requested_class():
    requested = torch.tensor([0, 0, 0, 0, 1, 1, 2, 2])
    predicted = torch.tensor([0, 0, 1, 0, 1, 2, 0, 0])
    assert conditional_accuracy(predicted, requested, 3) == [0.75, 0.5, 0.0]
    with pytest.raises(ValueError, match="3 predictions for 8"):
        conditional_accuracy(predicted[:3], requested, 3)


def test_grid_labels_cover_every_class_equally():
    assert grid_labels(6, 3).tolist() == [0, 0, 1, 1, 2, 2]  # the order evaluate_conditional asks in
    assert grid_labels(100, 10).tolist() == [c for c in range(10) for _ in range(10)]  # a row per class
    assert torch.bincount(grid_labels(104, 26)).tolist() == [4] * 26


def test_generate_draws_the_requested_classes_deterministically():
    torch.manual_seed(0)
    generator = build_generator("cgan")
    asked = torch.tensor([7, 7, 3])
    first, again = generate(generator, 3, seed=5, labels=asked), generate(generator, 3, seed=5, labels=asked)
    assert torch.equal(first, again)
    assert not torch.equal(first[0], generate(generator, 3, seed=5, labels=torch.tensor([3, 7, 3]))[0])


def test_labels_for_an_unconditional_generator_are_refused():
    with pytest.raises(ValueError, match="not conditional"):
        generate(build_generator("dcgan"), 2, labels=torch.tensor([0, 1]))


class RealImagesByClass(torch.nn.Module):
    """A perfect conditional 'generator': for each requested label, a real test image of that class."""

    def __init__(self) -> None:
        super().__init__()
        test = load_fashion_mnist(train=False)
        self.bank = [scale(test.images[test.labels == c][:50]) for c in range(10)]
        self.latent_dim, self.num_classes = 8, 10
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives generate() a device

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.bank[c][i % 50] for i, c in enumerate(labels.tolist())])


def test_metrics_of_a_conditional_generator_see_every_class_in_every_split():
    """The inception score splits the samples; with a row of one class per split it would be ~1."""
    generator = RealImagesByClass()
    row = evaluate_generator(generator, Reference.build(count=200), count=200)
    assert row["IS"] > 4 and row["class entropy"] > 3.2
    assert cycled_labels(12, 5).tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]


def test_live_view_shows_the_whole_grid_one_class_per_row():
    from gan_helpers.config import TrainConfig
    from gan_helpers.display import figure
    from gan_helpers.images import to_grid
    from gan_helpers.runs import new_run

    run = new_run(TrainConfig.for_model("cgan", device="cpu"))
    fig = figure(run)
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape[:2] == to_grid(run.samples(), nrow=10).shape[1:]  # 10 x 10 tiles, not 8 x 8
    assert run.samples().shape[0] == 100 and grid_labels(100, 10)[::10].tolist() == list(range(10))
