"""Chapters 02-08: widget panels. Hyperparameter sliders that edit a ``TrainConfig``
(``panel.result`` is what trains), and a class picker for a conditional generator."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch

from gan_helpers.augment import AUGMENTS
from gan_helpers.config import TrainConfig
from gan_helpers.data import DATASETS
from gan_helpers.display import Interactive, show_grid
from gan_helpers.image_folder import DEFAULT_SIZE, IMAGE_SIZES
from gan_helpers.losses import GENERATOR_LOSSES, LOSSES
from gan_helpers.notebook import small_run
from gan_helpers.sampling import generate

STYLE = {"description_width": "150px"}

LAYOUT = widgets.Layout(width="480px")


def config_panel(config: TrainConfig) -> Interactive:
    """Controls for the settings of ``config`` that matter for its model kind; ``panel.result``
    is the edited config: exactly ``config`` (shrunk under the test switch) until a control moves."""
    if not isinstance(config, TrainConfig):
        example = "config_panel(TrainConfig.for_model('dcgan'))"
        raise ValueError(f"config_panel takes a TrainConfig, as in {example}; got {config!r}")
    base = small_run(config)
    kind = base.kind
    controls = {
        "num_epochs": widgets.IntSlider(
            base.num_epochs, min=1, max=max(100, base.num_epochs), description="epochs"
        ),
        "batch_size": widgets.Dropdown(
            options=sorted({32, 64, 128, 256, 512, base.batch_size}),
            value=base.batch_size,
            description="batch size",
        ),
        "lr_g": log_slider(base.lr_g, "generator lr"),
        "lr_d": log_slider(base.lr_d, "critic lr" if kind.critic else "discriminator lr"),
        "beta1": widgets.FloatSlider(base.betas[0], min=0.0, max=0.99, step=0.05, description="Adam β₁"),
        "latent_dim": widgets.Dropdown(
            options=sorted({2, 16, 64, 100, 128, base.latent_dim}),
            value=base.latent_dim,
            description="latent size",
        ),
        "subset": widgets.FloatSlider(base.subset, min=0.01, max=1.0, step=0.01, description="share of data"),
        "seed": widgets.IntText(base.seed, description="seed"),
    }
    controls |= data_controls(base) | kind_controls(base)

    def with_betas(values: dict) -> dict:  # the panel edits beta1; beta2 stays the config's
        beta1 = values.pop("beta1")
        return {**values, "betas": (beta1, base.betas[1])}

    return editing(base, controls, summary, log_scaled=("lr_g", "lr_d", "gp_weight"), prepare=with_betas)


def data_controls(config: TrainConfig) -> dict:
    """What the discriminator sees: the dataset, or a folder's image size; and the augmentation
    (chapter 10) before it, where the kind can take it."""
    augments = [name for name in AUGMENTS if name != "adaptive" or not config.kind.critic]
    controls = {"augment": widgets.Dropdown(options=augments, value=config.augment, description="augment")}
    if config.data_dir:
        sizes = [(f"{DEFAULT_SIZE} (default)", 0), *((str(size), size) for size in IMAGE_SIZES)]
        size = widgets.Dropdown(options=sizes, value=config.image_size, description="image size")
        return controls | {"image_size": size}
    dataset = widgets.Dropdown(options=list(DATASETS), value=config.dataset, description="dataset")
    return controls | {"dataset": dataset}


def kind_controls(config: TrainConfig) -> dict:
    """The controls of the settings only some model kinds have: the loss, dropout, the critic's."""
    kind = config.kind
    controls = stabilizer_controls(config) if kind.stabilizers else {}
    if not kind.critic and not kind.stabilizers:
        controls["generator_loss"] = widgets.Dropdown(
            options=list(GENERATOR_LOSSES), value=config.generator_loss, description="generator loss"
        )
    if kind.dropout:
        controls["dropout"] = widgets.FloatSlider(
            config.dropout, min=0.0, max=0.9, step=0.05, description="D dropout"
        )
    if kind.critic:
        controls["n_critic"] = widgets.IntSlider(config.n_critic, min=1, max=10, description="n_critic")
        controls["gp_weight"] = log_slider(config.gp_weight, "penalty weight λ", low=-1, high=3)
    return controls


def stabilizer_controls(config: TrainConfig) -> dict:
    """Chapter 08's three switches: the loss pair, spectral norm, and the R1 weight (0: off)."""
    return {
        "loss": widgets.Dropdown(options=list(LOSSES), value=config.loss, description="loss"),
        "spectral_norm": widgets.Checkbox(config.spectral_norm, description="spectral norm in D"),
        "r1_weight": widgets.Dropdown(
            options=sorted({0.0, 0.01, 0.1, 1.0, 10.0, config.r1_weight}),
            value=config.r1_weight,
            description="R1 weight γ",
        ),
    }


def editing(
    config, controls: dict, describe: Callable, log_scaled: tuple[str, ...] = (), prepare: Callable = dict
) -> Interactive:
    """A panel whose ``controls`` edit a copy of ``config`` (a dataclass with ``replace``):
    ``panel.result`` is the edited copy, described in one printed line, or the refusal."""
    for control in controls.values():
        control.style, control.layout = STYLE, LAYOUT

    def make_config(**values):
        values = prepare(values)
        for name in log_scaled:  # what the slider shows and the config trains are the same number
            if name in values:
                values[name] = slider_value(values[name], getattr(config, name))
        try:
            edited = config.replace(**values)
        except ValueError as error:  # one line in the panel, and the training cell refuses too
            print(f"refused: {error}")
            return Refused(str(error))
        print(describe(edited))
        return edited

    return Interactive(make_config, **controls)


class Refused:
    """What a panel holds after an invalid value: any use of it raises the panel's message."""

    def __init__(self, message: str) -> None:
        self.message = message

    def __getattr__(self, name: str):
        if name.startswith("_"):  # Python's and IPython's own probes (copy, _repr_html_, ...)
            raise AttributeError(name)
        raise ValueError(f"the panel refused a value: {self.message}; change it in the panel first")

    def __repr__(self) -> str:
        return f"Refused({self.message!r})"


def class_picker(generator, class_names: Sequence[str], variants: int = 8) -> Interactive:
    """Pick a class and a noise seed; see ``variants`` garments of that class drawn by ``generator``."""

    def draw(label: int, seed: int) -> None:
        images = generate(generator, variants, seed=seed, labels=torch.full((variants,), label))
        show_grid(images, nrow=variants, title=f"{class_names[label]}, seed {seed}")
        plt.show()

    label = widgets.Dropdown(options=[(name, i) for i, name in enumerate(class_names)], description="class")
    seed = widgets.IntSlider(0, min=0, max=999, description="noise seed")
    return Interactive(draw, label=label, seed=seed)


def summary(config: TrainConfig) -> str:
    """One line describing a config, for the panel and the logs."""
    kind = config.kind
    text = (
        f"{config.model}: {config.num_epochs} epoch{'s' * (config.num_epochs > 1)}, "
        f"batch {config.batch_size}, "
        f"lr G {config.lr_g:.3g} / D {config.lr_d:.3g}, betas {config.betas}, "
        f"z {config.latent_dim}, data share {config.subset:g}, seed {config.seed}"
    )
    if kind.critic:
        text += f", n_critic {config.n_critic}, λ {config.gp_weight:g}"
    elif kind.stabilizers:
        norm = "spectral norm" if config.spectral_norm else "no spectral norm"
        text += f", {config.loss} loss, {norm}, R1 γ {config.r1_weight:g}"
    else:
        text += f", {config.generator_loss} loss"
    if kind.dropout:
        text += f", dropout {config.dropout:g}"
    if config.data_dir:
        text += f", images of {config.data_dir}" + (f" at {config.image_size}px" if config.image_size else "")
    elif config.dataset != "fashion-mnist":
        text += f", dataset {config.dataset}"
    if config.augment != "none":
        text += f", augment {config.augment}"
    return text


LOG_STEP = 0.001  # of the exponent: the slider's stops are 0.23% apart, finer than the 3 digits it shows


def log_slider(value: float, description: str, low: int = -5, high: int = -2) -> widgets.FloatLogSlider:
    """A slider over 10**low .. 10**high that shows three significant digits."""
    return widgets.FloatLogSlider(
        value=value, base=10, min=low, max=high, step=LOG_STEP, description=description, readout_format=".3g"
    )


def slider_value(value: float, start: float) -> float:
    """The number a log slider means: ``start`` while it sits on its starting stop, else the three
    digits it shows. A rendered slider snaps to its grid (4e-4 becomes 0.000400037...)."""
    if start > 0 and abs(value / start - 1) < 2 * (10**LOG_STEP - 1):
        return start
    return float(f"{value:.3g}")
