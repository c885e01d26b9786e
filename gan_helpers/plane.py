"""Chapter 07: GANs in the plane. 2-D data, small networks, a training loop that keeps frames,
and the two numbers of the 2-D benchmarks (modes covered, share of high-quality points).

In two dimensions everything a GAN does can be drawn: the real and generated points, the
discriminator's opinion of every point of the plane, and where the generator's gradient pushes
its points. The loop reuses the package's steps and losses (``gan_step``, ``critic_step``,
``generator_step``); only the data and the networks are new. The chapter defines the data,
the networks, the metric and the loop in its cells; ``tools/export_code.py`` keeps them equal.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import torch
from torch import nn
from tqdm.auto import tqdm

from gan_helpers.checks import SEED_RANGE, SettingError, integer, number, one_of
from gan_helpers.kinds import KINDS
from gan_helpers.losses import GENERATOR_LOSSES, NON_SATURATING, wasserstein_generator_loss
from gan_helpers.steps import critic_step, gan_step, generator_step

# What the generator minimises, by name: chapter 02's losses, and chapter 04's against a critic
# for each model kind whose discriminator is one (the registry of kinds says which).
OBJECTIVES = {
    **GENERATOR_LOSSES,
    **{kind.name: wasserstein_generator_loss for kind in KINDS.values() if kind.critic},
}


def is_critic(objective: str) -> bool:
    """Whether ``objective`` trains a critic (a score, a penalty, n_critic steps), not a D(x)."""
    return objective in KINDS and KINDS[objective].critic


# --- Data: every distribution is a set of centres, each belonging to a mode, plus Gaussian noise.


@dataclass(frozen=True)
class PointData:
    """A 2-D distribution: Gaussian noise of ``std`` around ``centres`` picked uniformly.

    A mixture has one centre per mode; a curve has many centres along it, grouped into
    stretches that count as its modes. The metric needs the same centres, so they live here.
    """

    name: str
    centres: torch.Tensor  # [M, 2]
    modes: torch.Tensor  # [M]: the mode each centre belongs to
    std: float

    @property
    def num_modes(self) -> int:
        return int(self.modes.max()) + 1

    def sample(self, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``count`` points: a random centre each, plus noise."""
        index = torch.randint(len(self.centres), (count,), generator=generator)
        return self.centres[index] + self.std * torch.randn(count, 2, generator=generator)


def ring(modes: int = 8, radius: float = 2.0, std: float = 0.02) -> PointData:
    """Gaussians evenly spaced on a circle: the classic test of mode collapse."""
    angle = torch.arange(modes) * (2 * math.pi / modes)
    centres = radius * torch.stack([angle.cos(), angle.sin()], dim=1)
    return PointData("ring", centres, torch.arange(modes), std)


def grid(side: int = 5, spacing: float = 2.0, std: float = 0.02) -> PointData:
    """A side x side grid of Gaussians centred on the origin."""
    axis = (torch.arange(side) - (side - 1) / 2) * spacing
    centres = torch.cartesian_prod(axis, axis)
    return PointData("grid", centres, torch.arange(side * side), std)


def spiral(turns: float = 1.5, stretches: int = 10, std: float = 0.05) -> PointData:
    """An Archimedean spiral, sampled evenly along its length; each tenth of it counts as a mode."""
    theta = torch.linspace(0.5 * math.pi, (0.5 + 2 * turns) * math.pi, 20_000)
    curve = torch.stack([theta * theta.cos(), theta * theta.sin()], dim=1) * (3 / theta[-1])
    length = torch.cat([torch.zeros(1), (curve[1:] - curve[:-1]).norm(dim=1).cumsum(0)])
    spots = torch.linspace(0, float(length[-1]), 600)  # 600 centres, equally far apart along the curve
    centres = curve[torch.searchsorted(length, spots).clamp(max=len(curve) - 1)]
    modes = torch.arange(600) * stretches // 600
    return PointData("spiral", centres, modes, std)


DISTRIBUTIONS = {"ring": ring, "grid": grid, "spiral": spiral}


# --- Networks: small MLPs. One discriminator class serves as the critic too (no batch norm).


class PointGenerator(nn.Module):
    """Noise -> ``depth`` hidden layers of ``width`` ReLU units -> a point of the plane."""

    def __init__(self, latent_dim: int = 2, width: int = 128, depth: int = 2) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        layers, size = [], latent_dim
        for _ in range(depth):
            layers += [nn.Linear(size, width), nn.ReLU()]
            size = width
        self.net = nn.Sequential(*layers, nn.Linear(size, 2))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class PointDiscriminator(nn.Module):
    """A point -> two hidden layers of ``width`` ReLU units -> one logit (or critic score)."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, 1)
        )

    def forward(self, points: torch.Tensor) -> torch.Tensor:
        return self.net(points).flatten()


# --- The metric of the 2-D benchmarks.


@dataclass(frozen=True)
class Coverage:
    """How many modes the samples cover, and which share of them lies close to a mode."""

    covered: int
    num_modes: int
    high_quality: float  # share of samples within 3 std of a centre
    counts: tuple[int, ...]  # high-quality samples per mode


def mode_coverage(points: torch.Tensor, data: PointData, fair_share: float = 0.2) -> Coverage:
    """Score generated points against ``data``'s modes.

    A point is *high quality* when it lies within three standard deviations of some centre;
    it then belongs to that centre's mode. A mode is *covered* when it holds at least
    ``fair_share`` of the points it would get if all modes were equally full (with 2,500
    points and 8 modes, 63 points), so a few strays do not count as a mode found.
    """
    distance, nearest = torch.cdist(points, data.centres).min(dim=1)
    close = distance <= 3 * data.std
    counts = torch.bincount(data.modes[nearest[close]], minlength=data.num_modes)
    needed = fair_share * len(points) / data.num_modes
    covered = int((counts >= needed).sum())
    return Coverage(covered, data.num_modes, close.float().mean().item(), tuple(counts.tolist()))


# --- Training: the package's steps on points, with a snapshot of the game every few steps.


@dataclass(frozen=True)
class PointConfig:
    """What a 2-D run trains: the data, the objective and its settings. Bad values raise ValueError."""

    data: str = "ring"
    objective: str = NON_SATURATING  # or "saturating", "wgan-gp" (plane.OBJECTIVES)
    steps: int = 2000  # generator updates
    batch_size: int = 256
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    betas: tuple[float, float] = (0.5, 0.9)
    n_critic: int = 5  # WGAN-GP: critic updates per generator update
    gp_weight: float = 0.1  # WGAN-GP: the penalty's weight λ
    latent_dim: int = 2
    width: int = 128  # hidden units of both networks
    seed: int = 0
    num_frames: int = 40  # snapshots kept, besides the one before training
    num_samples: int = 2500  # generated points per snapshot (and per measurement)

    def __post_init__(self) -> None:
        one_of("PointConfig.data", self.data, DISTRIBUTIONS)
        one_of("PointConfig.objective", self.objective, OBJECTIVES)
        integer("PointConfig.seed", self.seed, *SEED_RANGE)
        for name in ("steps", "batch_size", "n_critic", "latent_dim", "width", "num_frames", "num_samples"):
            integer(f"PointConfig.{name}", getattr(self, name), 1)
        for name in ("lr_g", "lr_d"):
            number(f"PointConfig.{name}", getattr(self, name), 0, 1)
        number("PointConfig.gp_weight", self.gp_weight, 0, 1e4, low_in=True, high_in=False)
        betas_ok = isinstance(self.betas, (tuple, list)) and len(self.betas) == 2
        if not betas_ok or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in self.betas):
            raise SettingError("PointConfig.betas", self.betas, "need two numbers in [0, 1)")

    def replace(self, **changes) -> PointConfig:
        """A copy with ``changes``, validated like a new config."""
        return dataclasses.replace(self, **changes)


@dataclass
class Frame:
    """The game at one step: the generated points, D's field over the plane, the generator's push."""

    step: int
    fake: torch.Tensor  # [num_samples, 2]
    field: torch.Tensor  # [RESOLUTION, RESOLUTION]: D's probability "real", or the critic's score
    push: torch.Tensor  # [num_samples, 2]: minus the gradient of the generator's loss at each point
    coverage: Coverage


@dataclass
class PointRun:
    """A trained 2-D GAN and its frames."""

    config: PointConfig
    data: PointData
    generator: nn.Module
    discriminator: nn.Module
    frames: list[Frame] = field(default_factory=list)
    seconds: float = 0.0


RESOLUTION = 80  # the field is drawn on an 80 x 80 grid of points


def plane_limit(data: PointData) -> float:
    """Half the width of the square the pictures show: the data's extent plus a margin."""
    return float(data.centres.abs().max()) + 1.0


def plane_axis(data: PointData) -> torch.Tensor:
    """The RESOLUTION coordinates, along x and along y, of the grid the field is drawn on."""
    return torch.linspace(-plane_limit(data), plane_limit(data), RESOLUTION)


def generator_push(discriminator: nn.Module, objective: str, fake: torch.Tensor) -> torch.Tensor:
    """Where the generator's loss pushes each fake point: minus its gradient with respect to the point.

    The loss is a mean over points, so the gradient is scaled by their number to give each
    point's own pull, the same whatever the number of points.
    """
    fake = fake.detach().requires_grad_(True)
    loss_g = OBJECTIVES[objective](discriminator(fake))
    (gradient,) = torch.autograd.grad(loss_g, fake)
    return -gradient * len(fake)


def snapshot(run: PointRun, noise: torch.Tensor, step: int) -> Frame:
    """The game at ``step``: generated points from fixed noise, D over the plane, the push, coverage."""
    axis = plane_axis(run.data)
    plane = torch.cartesian_prod(axis, axis)  # (x_i, y_j) at row i * RESOLUTION + j
    with torch.no_grad():
        fake = run.generator(noise)
        scores = run.discriminator(plane).reshape(RESOLUTION, RESOLUTION).T  # rows: y, columns: x
    field = scores if is_critic(run.config.objective) else torch.sigmoid(scores)
    push = generator_push(run.discriminator, run.config.objective, fake)
    return Frame(step, fake, field, push, mode_coverage(fake, run.data))


def train_points(
    config: PointConfig,
    generator: nn.Module | None = None,
    discriminator: nn.Module | None = None,
    progress: bool = True,
) -> PointRun:
    """Train a GAN on 2-D points with the package's steps, keeping ``num_frames`` snapshots.

    Networks you pass in start from the weights they have: seed before building them.
    ``progress`` shows a progress bar over the generator's steps.
    """
    torch.manual_seed(config.seed)  # fixes the default networks' starting weights and the steps' noise
    data = DISTRIBUTIONS[config.data]()
    generator = generator if generator is not None else PointGenerator(config.latent_dim, config.width)
    discriminator = discriminator if discriminator is not None else PointDiscriminator(config.width)
    opt_g = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=config.lr_d, betas=config.betas)
    rng = torch.Generator().manual_seed(config.seed)  # the data's own stream
    noise = torch.randn(config.num_samples, generator.latent_dim, generator=rng)  # the frames' fixed noise
    run, start = PointRun(config, data, generator, discriminator), time.perf_counter()
    run.frames.append(snapshot(run, noise, 0))
    every = max(1, config.steps // config.num_frames)
    steps = tqdm(range(1, config.steps + 1), desc=f"{config.objective}, {config.data}", disable=not progress)
    for step in steps:
        if is_critic(config.objective):  # a critic: n_critic penalised steps per generator step
            for _ in range(config.n_critic):  # the critic trains more: a fresh real batch each time
                real = data.sample(config.batch_size, rng)
                critic_step(generator, discriminator, opt_d, real, config.gp_weight)
            generator_step(generator, discriminator, opt_g, config.batch_size, real.device)
        else:
            real = data.sample(config.batch_size, rng)
            objective = OBJECTIVES[config.objective]  # which of chapter 02's losses G minimises
            gan_step(generator, discriminator, opt_g, opt_d, real, objective=objective)
        if step % every == 0 or step == config.steps:
            run.frames.append(snapshot(run, noise, step))
    run.seconds = time.perf_counter() - start
    return run
