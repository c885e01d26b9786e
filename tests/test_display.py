"""What the notebooks show: loss plots of every shipped history, the live view, the panels."""

from __future__ import annotations

import matplotlib
import pytest

from gan_helpers.config import TrainConfig
from gan_helpers.display import LiveView, figure, shown_text
from gan_helpers.kinds import KINDS, MODEL_KINDS
from gan_helpers.panels import Refused, config_panel, summary
from gan_helpers.plots import plot_history, plot_progress, plot_run
from gan_helpers.runs import new_run
from gan_helpers.training import train
from gan_helpers.weights import load_history
from tests.helpers import tiny_config, tiny_data

matplotlib.use("Agg")


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_every_shipped_history_plots_with_labelled_axes(kind):
    fig = plot_run(load_history(kind), kind)
    labels = {ax.get_ylabel() for ax in fig.axes}
    assert {ax.get_xlabel() for ax in fig.axes[:2]} == {"batch"} and "loss" in labels
    if kind == "wgan-gp":
        assert {"W estimate", "gradient penalty"} <= labels  # the penalty on an axis of its own
    if KINDS[kind].stabilizers:
        assert {"logit", "R1 penalty"} <= labels  # chapter 08's model: raw scores, and R1 beside them


def test_a_series_shorter_than_its_steps_is_spread_over_them():
    history = {"step": [0, 50, 100, 150], "loss_d": [1.0, 0.9, 0.8, 0.7], "loss_g": [2.0, 1.5]}  # older files
    line = plot_history(history, ["loss_g"]).get_lines()[0]
    assert list(line.get_xdata()) == [0, 150] and list(line.get_ydata()) == [2.0, 1.5]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_the_progress_panel_draws_the_series_its_kind_lists(kind):
    history = load_history(kind)
    progress = KINDS[kind].progress
    ax = plot_progress(history, kind)
    assert [line.get_label() for line in ax.lines] == list(progress.series)
    twins = [other for other in ax.figure.axes if other is not ax]
    if progress.penalty:
        assert [line.get_label() for twin in twins for line in twin.lines] == [progress.penalty[0]]
        history = {**history, progress.penalty[0]: [0.0] * len(history[progress.penalty[0]])}
        ax = plot_progress(history, kind)  # a run with its penalty switched off: no empty axis
        assert len(ax.figure.axes) == 1
    else:
        assert not twins


def test_a_run_plots_title_sits_above_the_panels_titles():
    fig = plot_run(load_history("dcgan"), "dcgan", title="5x discriminator lr")  # a Try-it cell's title
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert fig.get_suptitle() == "5x discriminator lr"
    bottom = fig._suptitle.get_window_extent(renderer).y0
    tops = [ax.title.get_window_extent(renderer).y1 for ax in fig.axes if ax.get_title()]
    assert tops and bottom >= max(tops)  # it covers none of them (a suptitle added afterwards did)


def test_live_view_draws_a_last_frame_when_training_ends(tmp_path):
    drawn = []

    class Recording(LiveView):
        def show(self, run):
            drawn.append(run.step)

    root = tmp_path / "data"
    run = new_run(tiny_config(root, "wgan-gp"))
    train(run, data=tiny_data(root), on_log=Recording(every=300), progress=False)
    assert drawn[0] == 1 and drawn[-1] == 6  # the first entry, and the end of training (3 batches an epoch)


def test_the_wgan_gp_live_view_plots_the_wasserstein_estimate(tmp_path):
    root = tmp_path / "data"
    run = train(new_run(tiny_config(root, "wgan-gp", num_epochs=1)), data=tiny_data(root), progress=False)
    titles = [ax.get_title() for ax in figure(run).axes]
    assert "critic: Wasserstein estimate" in titles and "losses" not in titles
    assert "epoch 1" in titles[0]


def test_a_refused_panel_value_is_one_line_and_the_training_cell_refuses_too():
    panel = config_panel(TrainConfig.for_model("dcgan"))
    assert shown_text(panel) == summary(panel.result) + "\n"  # what it trains, shown under the controls
    seed = next(widget for widget in panel.kwargs_widgets if widget.description == "seed")
    seed.value = -1
    assert isinstance(panel.result, Refused)
    assert shown_text(panel) == "refused: TrainConfig.seed = -1: must be an integer from 0 to 2147483647\n"
    with pytest.raises(ValueError, match=r"the panel refused a value: TrainConfig\.seed = -1"):
        new_run(panel.result)
    assert not hasattr(panel.result, "_repr_html_") and "seed = -1" in repr(panel.result)  # displays quietly
    seed.value = 3
    assert panel.result.seed == 3


def test_panel_readouts_and_summary_read_naturally():
    panel = config_panel(TrainConfig.for_model("wgan-gp"))
    penalty = next(widget for widget in panel.kwargs_widgets if widget.description == "penalty weight λ")
    assert f"{penalty.value:{penalty.readout_format}}" == "10"  # not 1.0e+01
    one = summary(panel.result.replace(num_epochs=1))
    assert one.startswith("wgan-gp: 1 epoch, ") and "2 epochs" in summary(panel.result.replace(num_epochs=2))


def test_the_stabilizers_panel_switches_each_of_them_and_says_so():
    panel = config_panel(TrainConfig.for_model("sngan"))
    controls = {widget.description: widget for widget in panel.kwargs_widgets}
    assert "generator loss" not in controls  # the loss pair replaces it
    assert "hinge loss, spectral norm, R1 γ 0.1" in summary(panel.result)
    controls["loss"].value, controls["spectral norm in D"].value = "least-squares", False
    controls["R1 weight γ"].value = 0.0
    edited = panel.result
    assert (edited.loss, edited.spectral_norm, edited.r1_weight) == ("least-squares", False, 0)
    assert "least-squares loss, no spectral norm, R1 γ 0" in summary(panel.result)


def test_a_run_plot_stays_readable_at_a_notebooks_width_and_counts_whole_epochs():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    history = {"step": [10, 20], "loss_d": [1.3, 1.2], "loss_g": [0.8, 0.9], "d_real": [0.6, 0.6],
               "d_fake": [0.4, 0.4], "fd_epoch": [1], "fd": [40.0], "fd_class_entropy": [3.0]}  # fmt: skip
    fig = plot_run(history, "dcgan", headless=True)
    FigureCanvasAgg(fig).draw()
    notebook_width_px = 900  # a JupyterLab output area; wider pictures are scaled down to it
    scale = notebook_width_px / (fig.get_figwidth() * fig.dpi)
    sizes = [label.get_fontsize() for ax in fig.axes for label in [*ax.get_xticklabels(), ax.title]]
    smallest_px = min(sizes) * fig.dpi / 72 * min(scale, 1)
    assert smallest_px >= 9, f"text {smallest_px:.1f} px high once the figure fits the notebook"
    quality = fig.axes[2]
    assert all(float(tick).is_integer() for tick in quality.get_xticks()), quality.get_xticks()


def test_the_quality_panel_draws_both_spaces_where_the_run_tracked_them():
    history = {"step": [10, 20], "loss_d": [1.3, 1.2], "loss_g": [0.8, 0.9], "d_real": [0.6, 0.6],
               "d_fake": [0.4, 0.4], "fd_epoch": [1, 2], "fd": [40.0, 30.0], "fd_encoder": [6.0, 3.0],
               "fd_class_entropy": [3.0, 3.1]}  # fmt: skip
    quality = plot_run(history, "dcgan", headless=True).axes[2]
    assert [line.get_label() for line in quality.get_lines()] == ["classifier", "encoder"]
    assert list(quality.get_lines()[1].get_ydata()) == [6.0, 3.0] and quality.get_yscale() == "log"
