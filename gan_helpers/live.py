"""A live view of training in a notebook: the current samples and loss curves, updated in place."""

from __future__ import annotations

import matplotlib.pyplot as plt

from gan_helpers.plots import plot_history, show_grid
from gan_helpers.reports import loss_keys
from gan_helpers.runs import Run


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

    def __call__(self, run: Run) -> None:
        if run.step - self.last_step < self.every:
            return
        self.last_step = run.step
        self.show(run)

    def show(self, run: Run) -> None:
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


def figure(run: Run):
    """The 10x10 grid of the fixed noise, as saved each epoch (left), and the loss curves (right).

    All 100 samples, 10 to a row: a conditional GAN's rows are then its classes.
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [1, 1.4]})
    show_grid(run.samples(), nrow=10, ax=left, title=f"samples at batch {run.step}")
    if run.history.get("step"):
        plot_history(run.history, loss_keys(run.config.model)[0], ax=right, title="losses")
    fig.tight_layout()
    return fig
