"""Model shapes, initialisation and the architectural traps of the issue."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from gan_helpers import kinds, models


def condition(kind: str, count: int) -> tuple:
    """The extra label argument conditional models take."""
    return (torch.arange(count) % 10,) if kind in ("cgan",) else ()


@pytest.mark.parametrize("kind", kinds.MODEL_KINDS)
def test_generator_and_discriminator_shapes(kind):
    torch.manual_seed(0)
    generator = kinds.build_generator(kind, latent_dim=100)
    discriminator = kinds.build_discriminator(kind)
    images = generator(torch.randn(8, 100), *condition(kind, 8))
    assert images.shape == (8, 1, 28, 28)
    assert images.min() >= -1 and images.max() <= 1  # Tanh output, same range as scaled data
    assert discriminator(images, *condition(kind, 8)).shape == (8,)
    assert models.is_conditional(generator) == (kind in ("cgan",))


@pytest.mark.parametrize("kind", kinds.MODEL_KINDS)
def test_discriminators_return_unbounded_logits(kind):
    discriminator = kinds.build_discriminator(kind)
    assert not any(isinstance(m, nn.Sigmoid) for m in discriminator.modules())
    with torch.no_grad():
        for layer in discriminator.modules():
            if isinstance(layer, nn.Linear) and layer.out_features == 1:
                layer.bias.fill_(50.0)  # a logit far outside (0, 1)
    zeros = torch.zeros(2, 1, 28, 28)
    assert (discriminator(zeros, *condition(kind, 2)) > 1).all()
    probabilities = torch.sigmoid(discriminator(zeros, *condition(kind, 2)))
    assert ((probabilities > 0.99) & (probabilities <= 1)).all()


def test_conditional_generator_draws_different_images_for_different_labels():
    torch.manual_seed(0)
    generator = kinds.build_generator("cgan", num_classes=26).eval()
    z = torch.randn(1, 100).repeat(26, 1)  # the same noise for every class
    images = generator(z, torch.arange(26))
    assert not torch.allclose(images[0], images[1])
    with pytest.raises(IndexError):
        generator(z[:1], torch.tensor([26]))  # no class 26 in a 26-class model


def test_projection_discriminator_score_is_linear_plus_label_projection():
    torch.manual_seed(0)
    discriminator = kinds.build_discriminator("cgan").eval()
    images, labels = torch.randn(4, 1, 28, 28), torch.tensor([0, 3, 3, 9])
    features = discriminator.features(images)
    projection = (discriminator.embed.weight[labels] * features).sum(1)
    expected = discriminator.score(features).flatten() + projection
    torch.testing.assert_close(discriminator(images, labels), expected)
    with torch.no_grad():
        discriminator.embed.weight[3] += 1.0  # moving class 3's direction changes class-3 scores only
    changed = discriminator(images, labels) != expected
    assert changed.tolist() == [False, True, True, False]


def test_critic_has_no_batch_norm_and_no_dropout():
    critic = kinds.build_discriminator("wgan-gp")
    norms = (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)
    assert not any(isinstance(m, norms) for m in critic.modules())


def test_batch_norm_eps_is_never_misused():
    """BatchNorm1d(n, 0.8) sets eps=0.8, a common copy-paste bug; ours keep the default eps."""
    for kind in kinds.MODEL_KINDS:
        for model in (kinds.build_generator(kind), kinds.build_discriminator(kind)):
            for layer in model.modules():
                if isinstance(layer, (nn.BatchNorm1d, nn.BatchNorm2d)):
                    assert layer.eps == 1e-5 and layer.momentum == 0.1


def test_dcgan_initialisation():
    torch.manual_seed(0)
    generator = kinds.build_generator("dcgan")
    convs = [m for m in generator.modules() if isinstance(m, nn.ConvTranspose2d)]
    weights = torch.cat([c.weight.flatten() for c in convs])
    assert abs(weights.mean()) < 0.002 and 0.018 < weights.std() < 0.022
    norms = [m for m in generator.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(abs(n.weight.mean() - 1) < 0.01 for n in norms)


def test_parameter_counts_and_unknown_kind():
    assert models.count_parameters(models.MLPDiscriminator()) == 784 * 512 + 512 + 512 * 256 + 256 + 257
    with pytest.raises(ValueError, match="choose one of mlp, dcgan, wgan-gp"):
        kinds.build_generator("vae")
