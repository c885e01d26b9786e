"""What a notebook shows inline: grids of images, one row per class, the live view of a
training run (its samples and curves, redrawn in place), and controls whose output is shown
without capturing the kernel's messages (``Interactive``)."""

from __future__ import annotations

import base64
import traceback
from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.utils.capture import capture_output
from ipywidgets.widgets.interaction import show_inline_matplotlib_plots

from gan_helpers.data import ImageData
from gan_helpers.images import to_grid
from gan_helpers.plots import plot_history, plot_progress


def show_grid(images: torch.Tensor, nrow: int = 10, title: str | None = None, ax=None):
    """Show a grid of images inline; returns the matplotlib Axes."""
    if ax is None:
        _, ax = plt.subplots(figsize=(nrow * 0.6, (len(images) + nrow - 1) // nrow * 0.6))
    ax.imshow(to_grid(images, nrow).permute(1, 2, 0).numpy())
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


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
        if run.config.kind.critic:
            plot_progress(run.history, run.config.model, ax=right)
        else:
            plot_history(run.history, ["loss_d", "loss_g"], ax=right, title="losses", ylabel="loss")
    fig.tight_layout()
    return fig


# --- Controls that show their output.


class Interactive(widgets.interactive):
    """``ipywidgets.interactive``, except that what the function prints and draws is placed in the
    output area's state instead of being captured from the kernel's messages.

    Captured output makes a headless runner (nbclient, so ``jupyter nbconvert --execute`` and
    papermill) play the front end: it sends each captured output back to the kernel on the shell
    channel while it waits there for the cell's reply, and now and then misses that reply and
    waits forever (README, *Troubleshooting*). State set by the kernel needs no answer, and
    JupyterLab, Colab and VS Code draw it the same.
    """

    def update(self, *args) -> None:
        """Call the function with the controls' values and show what it printed and drew."""
        self.kwargs = {widget._kwarg: widget.get_interact_value() for widget in self.kwargs_widgets}
        with capture_output() as captured:
            try:
                self.result = self.f(**self.kwargs)
                show_inline_matplotlib_plots()  # figures drawn but not shown
            except Exception:  # shown under the controls, as ipywidgets does
                print(traceback.format_exc(), end="")
        self.out.outputs = tuple(shown_outputs(captured))


def shown_outputs(captured) -> list[dict]:
    """What a ``capture_output`` block printed and displayed, as the outputs of a notebook cell."""
    outputs = [
        {"output_type": "stream", "name": name, "text": text}
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr))
        if text
    ]
    for output in captured.outputs:  # binary data (a PNG) travels as base64 text, as in a notebook
        data = {mime: base64.b64encode(value).decode("ascii") if isinstance(value, bytes) else value
                for mime, value in output.data.items()}  # fmt: skip
        outputs.append({"output_type": "display_data", "data": data, "metadata": output.metadata or {}})
    return outputs


def shown_text(panel: widgets.interactive) -> str:
    """The text a panel shows under its controls (what its function printed)."""
    return "".join(output.get("text", "") for output in panel.out.outputs)
