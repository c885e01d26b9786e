"""Chapter 07's toolkit: 2-D data, the mode metric, the loop with snapshots, the pictures. The
numbers the chapter's prose states are checked against its own full-size run in test_headless."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch

from gan_helpers.display import shown_text
from gan_helpers.panels import Refused
from gan_helpers.plane import (
    DISTRIBUTIONS,
    PointConfig,
    PointData,
    PointDiscriminator,
    PointGenerator,
    generator_push,
    grid,
    mode_coverage,
    ring,
    spiral,
    train_points,
)
from gan_helpers.plane_views import (
    animate,
    draw_frame,
    draw_side_by_side,
    frame_slider,
    plot_coverage,
    plot_modes,
    point_panel,
    point_summary,
)

matplotlib.use("Agg")


def test_the_ring_and_the_grid_put_their_centres_where_they_say():
    centres = ring(modes=8, radius=2.0).centres
    assert torch.allclose(centres.norm(dim=1), torch.full((8,), 2.0))
    angles = torch.atan2(centres[:, 1], centres[:, 0]).remainder(2 * math.pi).sort().values
    assert torch.allclose(angles.diff(), torch.full((7,), math.pi / 4), atol=1e-5)
    square = grid(side=5, spacing=2.0)
    assert square.num_modes == 25 and set(square.centres[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


def test_samples_are_seeded_and_lie_around_the_centres():
    data = ring(std=0.02)
    first = data.sample(5000, torch.Generator().manual_seed(3))
    again = data.sample(5000, torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    distance = torch.cdist(first, data.centres).min(dim=1).values
    assert distance.max() < 6 * data.std and distance.mean() > data.std / 2


def test_the_spiral_is_ten_equal_stretches_of_one_curve():
    data = spiral()
    assert data.num_modes == 10
    assert torch.bincount(data.modes).tolist() == [60] * 10
    steps = (data.centres[1:] - data.centres[:-1]).norm(dim=1)
    assert steps.max() < 1.5 * steps.median()  # evenly spaced along the curve


def test_coverage_counts_modes_and_close_points():
    data = ring()
    rng = torch.Generator().manual_seed(0)
    real = mode_coverage(data.sample(2500, rng), data)
    assert (real.covered, real.num_modes) == (8, 8)
    assert real.high_quality == pytest.approx(1 - math.exp(-4.5), abs=0.01)  # P(|x - centre| <= 3 std) in 2-D
    collapsed = mode_coverage(data.centres[3] + data.std * torch.randn(2500, 2, generator=rng), data)
    assert collapsed.covered == 1 and collapsed.counts[3] == max(collapsed.counts)
    far = mode_coverage(data.centres[:1] * 3, data)  # a point far outside the ring
    assert (far.covered, far.high_quality) == (0, 0.0)


def test_a_mode_needs_a_fifth_of_its_fair_share():
    data = PointData("two", torch.tensor([[0.0, 0.0], [5.0, 0.0]]), torch.tensor([0, 1]), 0.1)

    def covered(at_second: int) -> int:
        points = torch.cat([torch.zeros(100 - at_second, 2), torch.tensor([[5.0, 0.0]]).repeat(at_second, 1)])
        return mode_coverage(points, data).covered

    assert (covered(9), covered(10)) == (1, 2)  # 100 points, 2 modes: a fifth of 50 is 10


def test_bad_settings_are_refused_in_one_line():
    for change, word in [({"data": "moons"}, "data"), ({"objective": "hinge"}, "objective"),
                         ({"steps": 0}, "steps"), ({"lr_d": 0.0}, "lr_d"), ({"gp_weight": -1.0}, "gp_weight"),
                         ({"betas": (0.5, 1.0)}, "betas"), ({"batch_size": 2.5}, "batch_size")]:  # fmt: skip
        with pytest.raises(ValueError, match=word) as error:
            PointConfig(**change)
        assert "\n" not in str(error.value)
    with pytest.raises(ValueError, match="n_critic"):
        PointConfig().replace(n_critic=0)


def test_the_push_is_minus_the_gradient_of_the_generator_loss():
    critic = PointDiscriminator(width=8)
    points = torch.randn(6, 2)
    push = generator_push(critic, "wgan-gp", points)  # loss -mean C(x): the push is grad C at each point
    for point, arrow in zip(points, push, strict=True):
        point = point.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(critic(point[None]).sum(), point)
        assert torch.allclose(arrow, gradient, atol=1e-6)
    uncertain = generator_push(critic, "non-saturating", points)
    assert not torch.allclose(uncertain, push)


def tiny(**changes) -> PointConfig:
    return PointConfig(steps=12, batch_size=32, num_frames=4, num_samples=200, width=16, **changes)


def test_a_seed_fixes_the_whole_run_and_frames_are_kept_at_even_steps():
    for objective in ("non-saturating", "saturating", "wgan-gp"):
        first, again = train_points(tiny(objective=objective)), train_points(tiny(objective=objective))
        assert [frame.step for frame in first.frames] == [0, 3, 6, 9, 12]
        for a, b in zip(first.frames, again.frames, strict=True):
            assert torch.equal(a.fake, b.fake) and torch.equal(a.field, b.field) and a.coverage == b.coverage
        other = train_points(tiny(objective=objective, seed=1))
        assert not torch.equal(other.frames[-1].fake, first.frames[-1].fake)


def test_the_field_is_a_probability_for_the_gan_and_a_score_for_the_critic():
    gan, wgan = train_points(tiny()), train_points(tiny(objective="wgan-gp"))
    field = gan.frames[-1].field
    assert field.shape == (80, 80) and field.min() >= 0 and field.max() <= 1
    assert wgan.frames[-1].field.shape == (80, 80)
    assert wgan.frames[-1].field.max() - wgan.frames[-1].field.min() > 0


def test_the_networks_you_pass_are_the_ones_that_train():
    generator = PointGenerator(latent_dim=3, width=8, depth=3)
    before = [p.detach().clone() for p in generator.parameters()]
    run = train_points(tiny(), generator=generator)
    assert run.generator is generator and run.frames[0].fake.shape == (200, 2)
    assert all(not torch.equal(a, b) for a, b in zip(before, generator.parameters(), strict=True))


def test_the_pictures_draw_every_kind_of_run():
    runs = {"gan": train_points(tiny()), "wgan": train_points(tiny(objective="wgan-gp", data="spiral"))}
    for run in runs.values():
        ax = draw_frame(run, 2, colorbar=True)
        assert "modes" in ax.get_title() and f"step {run.frames[2].step}" in ax.get_title()
        plot_modes(run)
    plot_coverage(runs)
    html = animate(runs["gan"], every=2).data
    assert html.count("data:image/png;base64") == 3  # frames 0, 2 and 4 (the last) of five
    slider = frame_slider(runs)
    assert slider.children[0].max == len(runs["gan"].frames) - 1


def test_side_by_side_titles_never_run_into_each_other():
    """The frame slider's two titles (long ones: objective, step, modes, share) each stay over
    their own panel."""
    runs = {"gan": train_points(tiny().replace(steps=100)), "wgan": train_points(tiny(objective="wgan-gp"))}
    fig = draw_side_by_side(runs, 2)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    left, right = (ax.title.get_window_extent(renderer) for ax in fig.axes[:2])
    assert left.x1 < right.x0, (left, right)
    for ax, run in zip(fig.axes[:2], runs.values(), strict=True):
        assert f"step {run.frames[2].step}" in ax.get_title()


def test_the_panel_gives_a_config_and_a_refusal_stops_training():
    panel = point_panel(PointConfig(steps=300))
    assert panel.result == PointConfig(steps=300)
    controls = {control.description: control for control in panel.kwargs_widgets}
    controls["data"].value, controls["generator lr"].value = "grid", 2e-3
    assert (panel.result.data, panel.result.steps) == ("grid", 300)
    assert panel.result.lr_g == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="steps must be"):
        train_points(Refused("steps must be a whole number of at least 1, not 0"))


def test_every_distribution_trains():
    for name in DISTRIBUTIONS:
        run = train_points(tiny(data=name))
        assert run.frames[-1].coverage.num_modes == run.data.num_modes


def test_the_panel_refuses_a_negative_seed_and_says_what_it_will_train():
    panel = point_panel(PointConfig(steps=300))
    controls = {control.description: control for control in panel.kwargs_widgets}
    controls["seed"].value = 4
    assert shown_text(panel) == point_summary(panel.result) + "\n"
    assert "seed 4" in point_summary(panel.result) and "300 generator steps" in point_summary(panel.result)
    controls["seed"].value = -1
    assert isinstance(panel.result, Refused)
    assert "PointConfig.seed = -1: must be an integer from 0" in panel.result.message
