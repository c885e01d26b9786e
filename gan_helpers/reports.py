"""What a finished (or stopped) run leaves on disk besides checkpoints: history and loss curves."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt

from gan_helpers.plots import plot_history
from gan_helpers.runs import Run


def loss_keys(model: str) -> tuple[list[str], list[str]]:
    """The history series to plot for a model: losses, then its progress measure."""
    if model == "wgan-gp":
        return ["loss_d", "loss_g"], ["wasserstein", "gp"]
    return ["loss_d", "loss_g"], ["d_real", "d_fake"]


def plot_run(history: dict, model: str):
    """Two panels: the losses, and D(x)/D(G(z)) or the Wasserstein estimate and penalty."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 3.5))
    losses, progress = loss_keys(model)
    plot_history(history, losses, ax=left, title="losses")
    title = "critic: Wasserstein estimate and penalty" if model == "wgan-gp" else "D(x) and D(G(z))"
    plot_history(history, progress, ax=right, title=title)
    fig.tight_layout()
    return fig


def write_report(run: Run) -> None:
    """Write ``history.json`` and ``losses.png`` into the run folder."""
    run.run_dir.mkdir(parents=True, exist_ok=True)
    Path(run.run_dir / "history.json").write_text(json.dumps(run.history))
    if run.history.get("step"):
        fig = plot_run(run.history, run.config.model)
        fig.savefig(run.run_dir / "losses.png", dpi=100)
        plt.close(fig)
