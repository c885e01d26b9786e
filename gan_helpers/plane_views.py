"""Chapter 07: what it shows of a 2-D run: one frame (the field, the points and their push), an
animation, a slider over the frames, coverage over training, and the panel of its settings."""

from __future__ import annotations

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import HTML
from matplotlib.animation import FuncAnimation

from gan_helpers.display import Interactive
from gan_helpers.panels import editing, log_slider
from gan_helpers.plane import (
    DISTRIBUTIONS,
    OBJECTIVES,
    PointConfig,
    PointRun,
    is_critic,
    plane_axis,
    plane_limit,
)

FAKE_COLOUR, PUSH_COLOUR, ARROWS = "tab:orange", "magenta", 150  # arrows on the first 150 points


def draw_frame(run: PointRun, index: int = -1, ax=None, colorbar: bool = False):
    """D's field as filled contours, real points (black), generated points (orange), their push (magenta)."""
    ax = ax or plt.gca()
    frame, limit = run.frames[index], plane_limit(run.data)
    axis = plane_axis(run.data).numpy()
    if is_critic(run.config.objective):  # a score: only its differences mean something
        filled = ax.contourf(axis, axis, frame.field.numpy(), levels=20, cmap="viridis")
    else:
        filled = ax.contourf(axis, axis, frame.field.numpy(), levels=np.linspace(0, 1, 11), cmap="RdBu_r")
    if colorbar:
        label = "critic's score" if is_critic(run.config.objective) else "D(x): probability real"
        plt.colorbar(filled, ax=ax, label=label)
    real = run.data.sample(1000, torch.Generator().manual_seed(0)).numpy()
    fake, push = frame.fake.numpy(), frame.push.numpy()
    ax.scatter(real[:, 0], real[:, 1], s=2, c="black", label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c=FAKE_COLOUR, label="generated")
    ax.quiver(*fake[:ARROWS].T, *push[:ARROWS].T, color=PUSH_COLOUR, angles="xy",
              scale_units="xy", scale=arrow_scale(run), width=0.004)  # fmt: skip
    cover = frame.coverage
    ax.set(xlim=(-limit, limit), ylim=(-limit, limit), aspect="equal", xticks=[], yticks=[])
    ax.set_title(f"{run.config.objective}, step {frame.step}\n{cover.covered}/{cover.num_modes} modes, "
                 f"{cover.high_quality:.0%} high quality", fontsize=9)  # fmt: skip
    return ax


def arrow_scale(run: PointRun) -> float:
    """One scale for all frames of a run, so a weaker push shows as a shorter arrow."""
    norms = torch.cat([frame.push[:ARROWS].norm(dim=1) for frame in run.frames])
    return float(norms.quantile(0.95).clamp(min=1e-12)) / (0.12 * plane_limit(run.data))


def animate(run: PointRun, every: int = 3, interval: int = 200, size: float = 4.5) -> HTML:
    """Every ``every``-th frame as an animation with play controls (JavaScript, no video encoder)."""
    fig, ax = plt.subplots(figsize=(size, size))

    def update(index: int) -> None:
        ax.clear()
        draw_frame(run, index, ax)

    frames = [*range(0, len(run.frames), every)]
    frames += [len(run.frames) - 1] if frames[-1] != len(run.frames) - 1 else []  # always the last one
    html = FuncAnimation(fig, update, frames=frames, interval=interval).to_jshtml(default_mode="once")
    plt.close(fig)
    return HTML(start_when_shown(html))


def start_when_shown(html: str) -> str:
    """matplotlib's player, started once its picture is on the page rather than at once.

    JupyterLab draws only the cells near the screen: an animation made off screen would start
    before its picture exists and stay blank. The player waits until the picture is there.
    """
    start = "setTimeout(function() {"
    if html.count(start) != 1 or html.count("}, 0);") != 1:
        return html  # another matplotlib's player: leave it as it is
    wait = (
        ";(function start() {\n"
        "        if (!document.getElementById(img_id)) { return setTimeout(start, 200); }"
    )
    return html.replace(start, wait).replace("}, 0);", "})();")


def frame_slider(runs: dict[str, PointRun], size: float = 4.0) -> Interactive:
    """A slider over the saved snapshots, drawing the same snapshot of each run side by side: the
    same share of each run's training (each title says its step)."""
    count = min(len(run.frames) for run in runs.values())

    def draw(frame: int) -> None:
        draw_side_by_side(runs, frame, size)
        plt.show()

    slider = widgets.IntSlider(count - 1, min=0, max=count - 1, description="frame", continuous_update=False)
    return Interactive(draw, frame=slider)


def draw_side_by_side(runs: dict[str, PointRun], frame: int, size: float = 4.0):
    """Snapshot ``frame`` of each run, side by side, each under its own title."""
    fig, axes = plt.subplots(1, len(runs), figsize=(size * len(runs), size), squeeze=False)
    for ax, run in zip(axes[0], runs.values(), strict=True):
        draw_frame(run, frame, ax)
    fig.tight_layout()
    return fig


def plot_coverage(runs: dict[str, PointRun]):
    """Modes covered and the share of high-quality points over training, one line per run."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.2))
    for name, run in runs.items():
        steps = [frame.step for frame in run.frames]
        left.plot(steps, [frame.coverage.covered for frame in run.frames], label=name)
        right.plot(steps, [frame.coverage.high_quality for frame in run.frames], label=name)
    num_modes = next(iter(runs.values())).data.num_modes
    left.set(xlabel="generator step", ylabel="modes covered", ylim=(0, num_modes + 0.5))
    right.set(xlabel="generator step", ylabel="share of high-quality points", ylim=(0, 1))
    left.legend(fontsize=8)
    return fig


def plot_modes(run: PointRun, ax=None):
    """Which modes the generated points sit in, frame by frame: mode hopping shows as moving bright cells."""
    ax = ax or plt.gca()
    counts = torch.tensor([frame.coverage.counts for frame in run.frames], dtype=torch.float).T
    steps = [frame.step for frame in run.frames]
    share = (counts / run.config.num_samples).numpy()
    image = ax.imshow(share, aspect="auto", cmap="magma", origin="lower", interpolation="nearest",
                      extent=(steps[0], steps[-1], -0.5, run.data.num_modes - 0.5))  # fmt: skip
    plt.colorbar(image, ax=ax, label="share of generated points")
    ax.set(xlabel="generator step", ylabel="mode", title=f"{run.config.objective}: points per mode")
    return ax


def point_panel(config: PointConfig) -> Interactive:
    """Controls for a 2-D run's settings; ``panel.result`` is the edited PointConfig (exactly
    ``config`` until a control moves) or the refusal, and each change prints one line."""
    controls = {
        "data": widgets.Dropdown(options=list(DISTRIBUTIONS), value=config.data, description="data"),
        "objective": widgets.Dropdown(
            options=list(OBJECTIVES), value=config.objective, description="objective"
        ),
        "lr_g": log_slider(config.lr_g, "generator lr", low=-5, high=-1),
        "lr_d": log_slider(config.lr_d, "discriminator lr", low=-5, high=-1),
        "n_critic": widgets.IntSlider(config.n_critic, min=1, max=10, description="n_critic (WGAN-GP)"),
        "steps": widgets.IntSlider(
            config.steps,
            min=min(100, config.steps),
            max=10_000,
            step=min(100, config.steps),
            description="generator steps",
        ),
        "seed": widgets.IntText(config.seed, description="seed"),
    }
    return editing(config, controls, point_summary, log_scaled=("lr_g", "lr_d"))


def point_summary(config: PointConfig) -> str:
    """One line describing a 2-D run's settings, for the panel."""
    critic = f", n_critic {config.n_critic}, λ {config.gp_weight:g}" if is_critic(config.objective) else ""
    return (
        f"{config.objective} on the {config.data}: {config.steps} generator steps, "
        f"batch {config.batch_size}, lr G {config.lr_g:.3g} / D {config.lr_d:.3g}, betas {config.betas}"
        f"{critic}, seed {config.seed}"
    )
