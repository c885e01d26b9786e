"""Chapter 10: differentiable augmentation, fixed and adaptive."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_helpers import augment as augmentation
from gan_helpers.augment import Augmentation, augment, colour, cutout, translation
from gan_helpers.runs import load_run
from gan_helpers.training import train
from tests.helpers import same_weights, tiny_config, tiny_data


@pytest.fixture
def data_root(tmp_path):
    tiny_data(tmp_path / "data")  # writes the files
    return tmp_path / "data"


def fit(config_or_run):
    """Train on the tiny data under the config's data root."""
    config = getattr(config_or_run, "config", config_or_run)
    return train(config_or_run, data=tiny_data(config.data_root), progress=False)


def test_translation_moves_the_picture_and_fills_with_zeros():
    torch.manual_seed(0)
    original = torch.arange(1, 8 * 8 + 1, dtype=torch.float32).view(8, 8)  # every pixel its own value
    moved = translation(original.expand(64, 1, 8, 8), ratio=0.25)[:, 0]  # up to 2 pixels each way
    for picture in moved:
        rows, cols = (picture != 0).nonzero(as_tuple=True)
        kept = picture[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert kept.shape[0] >= 6 and kept.shape[1] >= 6 and (kept != 0).all()  # the rest is the zero fill
        top, left = divmod(int(kept[0, 0]) - 1, 8)  # where the kept block starts in the original
        assert torch.equal(kept, original[top : top + kept.shape[0], left : left + kept.shape[1]])
    assert len({tuple(p.flatten().tolist()) for p in moved}) > 5  # each image its own shift


def test_cutout_zeros_one_square_of_half_the_side():
    torch.manual_seed(1)
    holes = (cutout(torch.ones(200, 3, 16, 16)) == 0).all(dim=1)
    areas = holes.flatten(1).sum(1)
    assert areas.max() == 8 * 8 and areas.min() >= 4 * 4  # clipped at the border, never more
    assert holes.any(dim=0).all()  # over many images, the hole lands everywhere


def test_colour_keeps_grey_grey_and_changes_each_image_differently():
    torch.manual_seed(2)
    grey = torch.rand(10, 1, 8, 8) * 2 - 1
    assert colour(grey) is grey  # only colour pictures change colour
    same = torch.rand(1, 3, 8, 8).repeat(10, 1, 1, 1)
    changed = colour(same)
    assert len({round(image.mean().item(), 5) for image in changed}) == 10


def test_gradients_reach_the_generator_through_every_transform():
    generator = nn.Sequential(nn.Linear(4, 3 * 16 * 16), nn.Tanh(), nn.Unflatten(1, (3, 16, 16)))
    torch.manual_seed(3)
    fake = generator(torch.randn(6, 4))
    augment(fake, p=1.0).square().sum().backward()
    assert generator[0].weight.grad is not None and generator[0].weight.grad.abs().sum() > 0


def test_p_zero_changes_nothing_and_draws_no_random_number():
    images = torch.rand(5, 1, 8, 8)
    state = torch.get_rng_state()
    assert torch.equal(augment(images, p=0.0), images)
    assert torch.equal(torch.get_rng_state(), state)


def test_adaptive_p_rises_while_the_discriminator_is_sure_of_the_reals_and_falls_after():
    sure, unsure = (lambda images: torch.ones(len(images))), (lambda images: -torch.ones(len(images)))
    adaptive = Augmentation("adaptive")
    assert adaptive.p == 0.0
    real = torch.zeros(32, 1, 8, 8)
    for _ in range(10):
        adaptive.adjust(sure, real)
    step = 32 * augmentation.ADJUST_EVERY / augmentation.ADJUST_IMAGES
    assert adaptive.p == pytest.approx(10 * step)
    for _ in range(20):
        adaptive.adjust(unsure, real)
    assert adaptive.p == 0.0  # never below 0
    assert Augmentation("diff").p == 1.0


def test_the_discriminator_sees_augmented_images_only_while_training(data_root):
    run = fit(tiny_config(data_root, "dcgan", augment="diff", num_epochs=1, quality_every=0))
    assert run.augmentation is not None and not run.discriminator._forward_pre_hooks  # removed after training
    assert "augment_p" in run.history and set(run.history["augment_p"]) == {1.0}
    plain = fit(tiny_config(data_root, "dcgan", num_epochs=1, run_name="plain", quality_every=0))
    assert plain.augmentation is None and "augment_p" not in plain.history
    assert not same_weights(run.generator, plain.generator)


def test_adaptive_augmentation_resumes_exactly(data_root, tmp_path):
    settings = dict(augment="adaptive", quality_every=0, log_every=1)
    whole = fit(tiny_config(data_root, "sngan", num_epochs=4, **settings))
    first = fit(tiny_config(data_root, "sngan", num_epochs=2, run_name="half", **settings))
    resumed = fit(load_run(first.checkpoint_path, num_epochs=4))
    assert 0 < whole.augmentation.p < 1  # it moved (tiny data: D is sure of the reals early on)
    assert resumed.augmentation.p == whole.augmentation.p
    assert same_weights(resumed.generator, whole.generator)
    assert same_weights(resumed.discriminator, whole.discriminator)
