"""What the notebooks show and how they run: image grids and loss plots, the live view of
training, hyperparameter panels, the small-run switch, and the setup cell of every notebook."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypeVar

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision.utils import make_grid, save_image

from gan_helpers.config import TrainConfig, atomic_write
from gan_helpers.data import DATASETS, ImageData
from gan_helpers.models import generate

T = TypeVar("T")

# --- Pictures.


def to_grid(images: torch.Tensor, nrow: int = 10) -> torch.Tensor:
    """Tile images in [-1, 1] (or uint8) into one [3, H, W] float picture in [0, 1]."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    else:
        images = images.detach().float().cpu().add(1.0).div(2.0)
    return make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)


def show_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show a grid of images inline; returns the matplotlib Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6))
    ax.imshow(to_grid(images, nrow).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def image_formats() -> dict[str, str]:
    """File suffixes (lower case) of the common image formats this PIL can write, and their format."""
    Image.init()
    common = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
              ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}  # fmt: skip
    return {suffix: name for suffix, name in common.items() if name in Image.SAVE}


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 10) -> Path:
    """Save images in [-1, 1] as one grid, in the format of the suffix (PNG if it names none)."""
    grid = to_grid(images, nrow)
    image_format = image_formats().get(Path(path).suffix.lower(), "PNG")
    return atomic_write(path, lambda file: save_image(grid, file, format=image_format))  # never half a file


def examples_per_class(data: ImageData, per_class: int = 10, seed: int = 0) -> torch.Tensor:
    """``per_class`` random images of each class, class by class (row by row in a grid)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for label in range(len(data.class_names)):
        members = (data.labels == label).nonzero().flatten()
        if len(members) < per_class:
            raise ValueError(f"class {label} has {len(members)} images, fewer than {per_class}")
        rows.append(data.images[members[torch.randperm(len(members), generator=generator)]][:per_class])
    return torch.cat(rows)


def show_class_grid(images: torch.Tensor, class_names: Sequence[str], title: str | None = None):
    """A grid with one row per class, the class name at the left of its row."""
    per_class = len(images) // len(class_names)
    fig, ax = plt.subplots(figsize=(per_class * 0.6 + 1.5, len(class_names) * 0.6))
    show_grid(images, nrow=per_class, title=title, ax=ax)
    ax.set_axis_on()
    ax.set_xticks([])
    ax.set_yticks([30 * row + 16 for row in range(len(class_names))], class_names)
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]], keys: Sequence[str], ax=None, title=None, ylabel=None
):
    """Plot the named series of a training history against the batch number (``batch_positions``)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 3.5))
    steps = history["step"]
    marker = "." if len(steps) < 30 else None  # a short history is still visible
    for key in keys:
        values = history[key]
        ax.plot(batch_positions(steps, values), values, label=key, linewidth=1, marker=marker)
    ax.set_xlabel("batch")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    if title:
        ax.set_title(title)
    return ax


def batch_positions(steps: Sequence[float], values: Sequence[float]) -> Sequence[float]:
    """Where a history series' values go on the batch axis: its steps, or spread evenly over
    them for a series shorter than ``steps`` (histories written before every series got a value)."""
    return steps if len(values) == len(steps) else np.linspace(steps[0], steps[-1], len(values))


def plot_quality(history: Mapping[str, Sequence[float]], ax=None):
    """FD of the samples measured during training, by epoch (lower is better)."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    epochs, values = history["fd_epoch"], history["fd"]
    ax.plot(epochs, values, marker="o", linewidth=1, color="tab:green")
    ax.set(xlabel="epoch", ylabel="FD (lower is better)", title="sample quality")
    ax.grid(alpha=0.3)
    return ax


def make_gif(frames: Sequence[str | Path], path: str | Path, seconds_per_frame: float = 0.4) -> Path:
    """Write the PNG ``frames`` (e.g. a run's epoch grids) as a looping GIF animation.

    A frame named like ``epoch_003.png`` gets "epoch 3" written above it.
    """
    if not frames:
        raise ValueError("make_gif needs at least one frame; did the run save any epoch grids?")
    images = [labelled(Image.open(frame).convert("L"), Path(frame).stem) for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = int(seconds_per_frame * 1000)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path


def labelled(image: Image.Image, stem: str) -> Image.Image:
    """``image`` under a white strip saying "epoch N" when ``stem`` is "epoch_N"."""
    match = re.fullmatch(r"epoch_0*(\d+)", stem)
    if match is None:
        return image
    framed = Image.new("L", (image.width, image.height + 16), color=255)
    framed.paste(image, (0, 16))
    ImageDraw.Draw(framed).text((4, 2), f"epoch {match.group(1)}", fill=0)
    return framed


def plot_progress(history: Mapping[str, Sequence[float]], model: str, ax=None):
    """D(x) and D(G(z)); for WGAN-GP the Wasserstein estimate, with the penalty on its own axis."""
    if model != "wgan-gp":
        return plot_history(history, ["d_real", "d_fake"], ax, "D(x) and D(G(z))", "probability")
    ax = plot_history(history, ["wasserstein"], ax, "critic: Wasserstein estimate", "W estimate")
    penalty = ax.twinx()  # the penalty is far smaller than W: a flat line on W's axis
    gp = history["gp"]
    x = batch_positions(history["step"], gp)
    penalty.plot(x, gp, color="tab:red", linewidth=1, alpha=0.6, label="gp")
    penalty.set_ylabel("gradient penalty", color="tab:red")
    penalty.legend(loc="lower right")
    return ax


def plot_run(history: dict, model: str, title: str | None = None):
    """The losses, the progress measure (``plot_progress``) and, if measured, the sample quality.

    ``title`` goes above all panels, laid out with them so that it covers none of theirs.
    """
    panels = 3 if history.get("fd") else 2
    fig, axes = plt.subplots(1, panels, figsize=(6 * panels, 3.5))
    plot_history(history, ["loss_d", "loss_g"], ax=axes[0], title="losses", ylabel="loss")
    plot_progress(history, model, ax=axes[1])
    if panels == 3:
        plot_quality(history, ax=axes[2])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- The live view of training.


class LiveView:
    """Pass as ``train(run, on_log=LiveView())``; redraws one output every ``every`` batches.

    It replaces its own picture instead of appending new ones, so the notebook's output stays
    one figure long however long training runs. Outside IPython it does nothing.
    """

    def __init__(self, every: int = 200) -> None:
        if every < 1:
            raise ValueError(f"LiveView every = {every}: must be at least 1 batch")
        self.every = every
        self.handle = None
        self.last_step = -every

    def __call__(self, run) -> None:
        epoch_end = run.batch == 0  # the engine also calls it when an epoch (or training) ends
        if run.step - self.last_step < self.every and not epoch_end:
            return
        self.last_step = run.step
        self.show(run)

    def show(self, run) -> None:
        """Draw now: the fixed-noise samples next to the history so far."""
        try:
            from IPython.display import display
        except ImportError:
            return
        fig = figure(run)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)


def figure(run):
    """The 10x10 grid of the fixed noise, as saved each epoch (left), and the progress curves
    (right): the losses, or for WGAN-GP the critic's Wasserstein estimate.

    All 100 samples, 10 to a row: a conditional GAN's rows are then its classes.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    epoch = run.epoch + 1 if run.batch else run.epoch  # run.batch == 0: an epoch has just ended
    show_grid(run.samples(), nrow=10, ax=left, title=f"samples after batch {run.step} (epoch {epoch})")
    if run.history.get("step"):
        if run.config.model == "wgan-gp":
            plot_progress(run.history, "wgan-gp", ax=right)
        else:
            plot_history(run.history, ["loss_d", "loss_g"], ax=right, title="losses", ylabel="loss")
    fig.tight_layout()
    return fig


# --- The small-run switch: pytest sets it (conftest.py) so nbval runs every cell in seconds.

SMALL_RUN_ENV = "FASHION_GAN_SMALL_RUN"


def is_small_run() -> bool:
    """True when the test switch is on (any value other than empty, 0, false or no)."""
    return os.environ.get(SMALL_RUN_ENV, "").strip().lower() not in ("", "0", "false", "no")


def full_or_small(full: T, small: T) -> T:
    """``full`` for a learner's run, ``small`` under the test switch."""
    return small if is_small_run() else full


def small_run_overrides() -> dict:
    """Config fields that shrink a notebook's training run to seconds under the test switch."""
    if not is_small_run():
        return {}
    return {"num_epochs": 1, "subset": 0.02, "log_every": 2}


# --- Hyperparameter panels: sliders that produce a validated TrainConfig in `panel.result`.

STYLE = {"description_width": "150px"}
LAYOUT = widgets.Layout(width="480px")


def default_config(model: str, **overrides) -> TrainConfig:
    """The chapter's starting config: the model's defaults, shrunk under the test switch."""
    values = {"run_name": f"{model}-notebook", **small_run_overrides(), **overrides}
    return TrainConfig.for_model(model, **values)


def config_panel(model: str, **overrides) -> widgets.interactive:
    """A panel of the hyperparameters that matter for ``model``; read ``panel.result``."""
    base = default_config(model, **overrides)
    controls = {
        "num_epochs": widgets.IntSlider(base.num_epochs, min=1, max=100, description="epochs"),
        "batch_size": widgets.Dropdown(
            options=[32, 64, 128, 256, 512], value=base.batch_size, description="batch size"
        ),
        "lr_g": log_slider(base.lr_g, "generator lr"),
        "lr_d": log_slider(base.lr_d, "critic lr" if model == "wgan-gp" else "discriminator lr"),
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
    if model != "wgan-gp":
        controls["generator_loss"] = widgets.Dropdown(
            options=["non-saturating", "saturating"], value=base.generator_loss, description="generator loss"
        )
    if model in ("dcgan", "cgan"):
        controls["dropout"] = widgets.FloatSlider(
            base.dropout, min=0.0, max=0.9, step=0.05, description="D dropout"
        )
    if model == "wgan-gp":
        controls["n_critic"] = widgets.IntSlider(base.n_critic, min=1, max=10, description="n_critic")
        controls["gp_weight"] = log_slider(base.gp_weight, "penalty weight λ", low=-1, high=3)
    for control in controls.values():
        control.style, control.layout = STYLE, LAYOUT

    def make_config(**values) -> TrainConfig | Refused:
        betas = (values.pop("beta1"), base.betas[1])
        try:
            config = TrainConfig.from_dict({**base.to_dict(), **values, "betas": betas})
        except ValueError as error:  # one line in the panel, and the training cell refuses too
            print(f"refused: {error}")
            return Refused(str(error))
        print(summary(config))
        return config

    return widgets.interactive(make_config, **controls)


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


def class_picker(generator, class_names: Sequence[str], variants: int = 8) -> widgets.interactive:
    """Pick a class and a noise seed; see ``variants`` garments of that class drawn by ``generator``."""
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
        f"{config.model}: {config.num_epochs} epoch{'s' * (config.num_epochs > 1)}, "
        f"batch {config.batch_size}, "
        f"lr G {config.lr_g:.1e} / D {config.lr_d:.1e}, betas {config.betas}, "
        f"z {config.latent_dim}, data share {config.subset:g}, seed {config.seed}"
    )
    if config.model == "wgan-gp":
        text += f", n_critic {config.n_critic}, λ {config.gp_weight:g}"
    else:
        text += f", {config.generator_loss} loss"
    if config.model in ("dcgan", "cgan"):
        text += f", dropout {config.dropout:g}"
    if config.dataset != "fashion-mnist":
        text += f", dataset {config.dataset}"
    return text


def log_slider(value: float, description: str, low: int = -5, high: int = -2) -> widgets.FloatLogSlider:
    return widgets.FloatLogSlider(
        value=value, base=10, min=low, max=high, step=0.1, description=description, readout_format=".3g"
    )


# --- The first code cell of every notebook, which makes it run on Colab as well as in a checkout.
# REPOSITORY is the one place the project's URL lives: `tools/refresh_notebooks.py --setup` writes
# setup_cell() into each notebook, and the tests check that every notebook and the README agree.

REPOSITORY = "https://github.com/fashion-gan/fashion-gan"
SETUP_MARKER = "# Setup: Colab or a checkout"

_SETUP_TEMPLATE = """{marker}. Imports the `gan_helpers` next to this notebook; never touches torch.
import importlib.util
import pathlib
import subprocess
import sys

checkout = str(pathlib.Path("..").resolve())
if pathlib.Path(checkout, "gan_helpers").is_dir():  # this checkout's code, even if another copy is installed
    if checkout in sys.path:
        sys.path.remove(checkout)
    sys.path.insert(0, checkout)
elif importlib.util.find_spec("gan_helpers") is None:  # Colab: torch and the rest are there already
    url = "git+{repository}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", url], check=True)
    importlib.invalidate_caches()
import gan_helpers

print("gan_helpers imported from", pathlib.Path(gan_helpers.__file__).parent)"""


def setup_cell(repository: str = REPOSITORY) -> str:
    """The source of the setup cell for ``repository``."""
    return _SETUP_TEMPLATE.format(marker=SETUP_MARKER, repository=repository)


def colab_url(notebook: str, repository: str = REPOSITORY, branch: str = "main") -> str:
    """The link that opens ``notebooks/<notebook>`` of the repository in Colab."""
    if not repository.startswith("https://github.com/"):
        raise ValueError(f"Colab opens GitHub repositories only, not {repository!r}")
    path = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook}"
