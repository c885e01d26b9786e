"""Config validation: errors name the field, the value and the allowed range."""

from __future__ import annotations

import pytest

from gan_helpers.config import TrainConfig


def test_model_defaults_follow_the_papers():
    wgan = TrainConfig.for_model("wgan-gp")
    assert (wgan.lr_g, wgan.lr_d, wgan.betas, wgan.n_critic, wgan.gp_weight) == (
        1e-4,
        1e-4,
        (0.5, 0.9),
        5,
        10.0,
    )
    assert (wgan.latent_dim, wgan.batch_size) == (100, 128)
    assert TrainConfig.for_model("dcgan", seed=3).seed == 3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("num_epochs", 0, "num_epochs = 0: must be an integer from 1"),
        ("batch_size", 2.5, "batch_size = 2.5: must be an integer"),
        ("lr_g", -1e-3, r"lr_g = -0.001: must be a number in \(0.0, 1.0\]"),
        ("lr_d", float("nan"), "lr_d = nan"),
        ("subset", 1.5, "subset = 1.5"),
        ("lr_decay", 1.5, r"lr_decay = 1.5: must be a number in \[0.0, 1.0\]"),
        ("n_critic", 0, "n_critic = 0"),
        ("betas", (0.5, 1.0), r"betas = \(0.5, 1.0\)"),
        ("model", "vae", "model = 'vae': must be one of mlp, dcgan, wgan-gp"),
        ("device", "tpu", "device = 'tpu': must be one of auto, cpu, cuda, mps"),
        ("seed", True, "seed = True"),
    ],
)
def test_invalid_values_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**{field: value})


def test_round_trip_through_dict():
    config = TrainConfig.for_model("mlp", num_epochs=3, run_name="x")
    assert TrainConfig.from_dict(config.to_dict()) == config
    assert config.name == "x" and TrainConfig().name == "dcgan"
