"""Plots of a training history: the losses, D(x) and D(G(z)), the critic's Wasserstein estimate
or chapter 08's raw scores, and the sample quality measured during training.

matplotlib's pyplot is imported only to make a figure for a notebook; ``plot_run(...,
headless=True)`` draws on a plain ``Figure``, so the command line never loads pyplot.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from gan_helpers.kinds import get_kind

PANEL_WIDTH = 4.2  # inches: three panels scaled to a notebook's width keep 10-point text readable


def new_figure(width: float, height: float, headless: bool = False) -> Figure:
    """A figure of ``width`` x ``height`` inches: pyplot's (a notebook shows it), or a plain one."""
    if headless:
        return Figure(figsize=(width, height))
    import matplotlib.pyplot as plt  # here, not above: the command line must not load pyplot

    return plt.figure(figsize=(width, height))


def plot_history(
    history: Mapping[str, Sequence[float]], keys: Sequence[str], ax=None, title=None, ylabel=None
):
    """Plot the named series of a training history against the batch number (``batch_positions``)."""
    ax = ax if ax is not None else new_figure(7, 3.5).subplots()
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
    """FD of the samples measured during training, by epoch (lower is better), in each feature
    space the run tracked: the classifier's, and the label-free encoder's where recorded."""
    ax = ax if ax is not None else new_figure(5, 3.5).subplots()
    epochs = history["fd_epoch"]
    ax.plot(epochs, history["fd"], marker="o", linewidth=1, color="tab:green", label="classifier")
    if history.get("fd_encoder"):
        ax.plot(epochs, history["fd_encoder"], marker="s", linewidth=1, color="tab:purple", label="encoder")
        ax.set_yscale("log")  # the two spaces' FDs differ in size: a log axis shows both moving
        ax.legend()
    ax.set(xlabel="epoch", ylabel="FD (lower is better)", title="sample quality")
    if len(epochs) <= 10:  # epochs are whole: a tick at each, not 0.96 and 1.04 around a single one
        ax.set_xticks(epochs)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    return ax


def plot_progress(history: Mapping[str, Sequence[float]], model: str, ax=None):
    """How the two players stand, as the model's kind lists it (``ModelKind.progress``): D(x)
    and D(G(z)), the critic's Wasserstein estimate, or chapter 08's mean logits; a penalty, where
    one was applied, on an axis of its own."""
    progress = get_kind(model).progress
    ax = plot_history(history, progress.series, ax, progress.title, progress.ylabel)
    if progress.penalty and any(history.get(progress.penalty[0], ())):
        with_penalty(ax, history, *progress.penalty)
    return ax


def with_penalty(ax: Axes, history: Mapping[str, Sequence[float]], name: str, label: str) -> Axes:
    """``ax`` with the series ``name`` on a second y axis: a penalty is far smaller than the rest."""
    penalty = ax.twinx()
    values = history[name]
    x = batch_positions(history["step"], values)
    penalty.plot(x, values, color="tab:red", linewidth=1, alpha=0.6, label=name)
    penalty.set_ylabel(label, color="tab:red")
    penalty.legend(loc="lower right")
    return ax


def plot_run(history: dict, model: str, title: str | None = None, headless: bool = False):
    """The losses, the progress measure (``plot_progress``) and, if measured, the sample quality.

    ``title`` goes above all panels, laid out with them so that it covers none of theirs.
    ``headless``: draw on a plain ``Figure`` (to save it), not one that a notebook shows.
    """
    panels = 3 if history.get("fd") else 2
    fig = new_figure(PANEL_WIDTH * panels, 3.3, headless)
    axes = fig.subplots(1, panels)
    plot_history(history, ["loss_d", "loss_g"], ax=axes[0], title="losses", ylabel="loss")
    plot_progress(history, model, ax=axes[1])
    if panels == 3:
        plot_quality(history, ax=axes[2])
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
