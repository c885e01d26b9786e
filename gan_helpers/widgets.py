"""Hyperparameter panels: sliders that produce a validated ``TrainConfig``.

Built with ``ipywidgets.interactive``: every change re-runs ``make_config`` and stores the
new config in ``panel.result``. The next cell trains with ``panel.result``, so a plain
"Run all" works without touching a slider.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import torch

from gan_helpers.config import TrainConfig
from gan_helpers.datasets import DATASETS
from gan_helpers.runmode import small_run_overrides

STYLE = {"description_width": "150px"}
LAYOUT = widgets.Layout(width="480px")


def default_config(model: str, **overrides) -> TrainConfig:
    """The chapter's starting config: the model's defaults, shrunk under the test switch."""
    return TrainConfig.for_model(
        model, run_name=f"{model}-notebook", **{**small_run_overrides(), **overrides}
    )


def config_panel(model: str, **overrides) -> widgets.interactive:
    """A panel of the hyperparameters that matter for ``model``; read ``panel.result``."""
    base = default_config(model, **overrides)
    controls = {
        "num_epochs": widgets.IntSlider(base.num_epochs, min=1, max=100, description="epochs"),
        "batch_size": widgets.Dropdown(
            options=[32, 64, 128, 256, 512], value=base.batch_size, description="batch size"
        ),
        "lr_g": _log_slider(base.lr_g, "generator lr"),
        "lr_d": _log_slider(base.lr_d, "critic lr" if model == "wgan-gp" else "discriminator lr"),
        "beta1": widgets.FloatSlider(base.betas[0], min=0.0, max=0.99, step=0.05, description="Adam β₁"),
        "latent_dim": widgets.Dropdown(
            options=sorted({2, 16, 64, 100, 128, base.latent_dim}),
            value=base.latent_dim,
            description="latent size",
        ),
        "subset": widgets.FloatSlider(base.subset, min=0.01, max=1.0, step=0.01, description="share of data"),
        "seed": widgets.IntText(base.seed, description="seed"),
        "dataset": widgets.Dropdown(options=list(DATASETS), value=base.dataset, description="dataset"),
    }
    if model == "wgan-gp":
        controls["n_critic"] = widgets.IntSlider(base.n_critic, min=1, max=10, description="n_critic")
        controls["gp_weight"] = _log_slider(base.gp_weight, "penalty weight λ", low=-1, high=3)
    for control in controls.values():
        control.style, control.layout = STYLE, LAYOUT

    def make_config(**values) -> TrainConfig:
        betas = (values.pop("beta1"), base.betas[1])
        config = TrainConfig.from_dict({**base.to_dict(), **values, "betas": betas})
        print(summary(config))
        return config

    return widgets.interactive(make_config, **controls)


def class_picker(generator, class_names: Sequence[str], variants: int = 8) -> widgets.interactive:
    """Pick a class and a noise seed; see ``variants`` garments of that class drawn by ``generator``."""
    import matplotlib.pyplot as plt

    from gan_helpers.plots import show_grid
    from gan_helpers.sampling import generate

    def draw(label: int, seed: int) -> None:
        images = generate(generator, variants, seed=seed, labels=torch.full((variants,), label))
        show_grid(images, nrow=variants, title=f"{class_names[label]}, seed {seed}")
        plt.show()

    label = widgets.Dropdown(options=[(name, i) for i, name in enumerate(class_names)], description="class")
    seed = widgets.IntSlider(0, min=0, max=999, description="noise seed")
    return widgets.interactive(draw, label=label, seed=seed)


def summary(config: TrainConfig) -> str:
    """One line describing a config, for the panel and the logs."""
    text = (
        f"{config.model}: {config.num_epochs} epochs, batch {config.batch_size}, "
        f"lr G {config.lr_g:.1e} / D {config.lr_d:.1e}, betas {config.betas}, "
        f"z {config.latent_dim}, data share {config.subset:g}, seed {config.seed}"
    )
    if config.model == "wgan-gp":
        text += f", n_critic {config.n_critic}, λ {config.gp_weight:g}"
    if config.dataset != "fashion-mnist":
        text += f", dataset {config.dataset}"
    return text


def _log_slider(value: float, description: str, low: int = -5, high: int = -2) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(
        value=value, base=10, min=low, max=high, step=0.1, description=description, readout_format=".1e"
    )
