"""Chapter 09: using a trained generator. Truncated noise, inverting an image into the latent
space, editing a latent vector by a classifier's gradient, and directions found from samples.

Everything here moves only the latent vector z; the networks' weights stay as they were trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from gan_helpers.checks import check_seed, integer
from gan_helpers.models import image_shape_of, is_conditional
from gan_helpers.sampling import eval_mode

# --- Truncation.


def truncated_noise(count: int, latent_dim: int, psi: float, seed: int = 0) -> torch.Tensor:
    """Standard normal noise with every entry drawn again until |z_i| <= psi.

    Redrawing an entry until it lands inside [-psi, psi] gives the normal density cut at ±psi
    and scaled up to integrate to 1: inside, the shape is unchanged. ``trunc_normal_`` draws
    exactly that distribution (by inverting its CDF instead of redrawing).
    """
    if not psi > 0:
        raise ValueError(f"psi = {psi!r}: must be above 0 (math.inf for no truncation)")
    check_seed(seed)
    random = torch.Generator().manual_seed(seed)
    if math.isinf(psi):
        return torch.randn(count, latent_dim, generator=random)
    noise = torch.empty(count, latent_dim)
    return nn.init.trunc_normal_(noise, mean=0.0, std=1.0, a=-psi, b=psi, generator=random)


# --- Inversion: the z whose image is closest to a given one.


@dataclass
class Inversion:
    """What ``invert`` found for each target: its latent vector, class, image and pixel error."""

    z: torch.Tensor  # [N, latent_dim]
    labels: torch.Tensor | None  # [N] for a conditional generator, else None
    images: torch.Tensor  # [N, 1, 28, 28] in [-1, 1]
    error: torch.Tensor  # [N]: root-mean-square pixel difference to the target, in [-1, 1] units


def pixel_error(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel difference of each pair of images, in the [-1, 1] units of the data."""
    return (a - b).square().flatten(1).mean(dim=1).sqrt()


def inversion_loss(
    images: torch.Tensor, targets: torch.Tensor, z: torch.Tensor, features=None,
    feature_weight: float = 0.1, prior_weight: float = 0.01,
) -> torch.Tensor:  # fmt: skip
    """Per start: pixel error² + feature error² (if ``features`` is given) + prior on |z|.

    The pixel term matches the image; the feature term (the classifier's view) matches what
    makes it a coat and not a shirt; the prior keeps |z| near sqrt(latent_dim), where almost all
    of the generator's training noise lay, so the answer is an image the generator knows how to draw.
    """
    loss = (images - targets).square().flatten(1).mean(dim=1)
    if features is not None and feature_weight > 0:
        loss = loss + feature_weight * (features(images) - features(targets)).square().mean(dim=1)
    typical = math.sqrt(z.shape[1])
    return loss + prior_weight * (z.norm(dim=1) / typical - 1).square()


def invert(
    generator: nn.Module, targets: torch.Tensor, features=None, starts: int = 4, steps: int = 500,
    lr: float = 0.1, seed: int = 0, labels: torch.Tensor | None = None, start: torch.Tensor | None = None,
) -> Inversion:  # fmt: skip
    """Gradient descent on z from ``starts`` random points per target; the best start wins.

    A conditional generator is tried with every class (``starts`` per class) unless ``labels``
    gives them. ``features`` maps images to feature vectors (say, the classifier's). ``start``
    replaces the random points: one row per target and start.
    """
    targets, z, candidate_labels = starting_points(generator, targets, starts, seed, labels)
    if start is not None:
        if start.shape != z.shape:
            raise ValueError(f"start must have shape {tuple(z.shape)} (targets x starts, latent_dim)")
        z = start.to(z.device, torch.float32).clone()
    repeated = targets.repeat_interleave(len(z) // len(targets), dim=0)
    z.requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)  # big moves first, then settle
    condition = () if candidate_labels is None else (candidate_labels,)
    with eval_mode(generator), torch.enable_grad():
        for _ in range(steps):
            loss = inversion_loss(generator(z, *condition), repeated, z, features).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward(inputs=[z])  # only z learns: the generator's weights get no gradients
            optimizer.step()
            schedule.step()
    return closest_start(generator, targets, z.detach(), candidate_labels)


def starting_points(generator, targets, starts, seed, labels):
    """Targets on the generator's device, and ``starts`` noise vectors per target (and class)."""
    starts = integer("starts", starts, 1)
    shape = image_shape_of(generator)
    if targets.ndim != 4 or tuple(targets.shape[1:]) != shape:
        raise ValueError(
            f"targets must be images of the generator's shape [N, {', '.join(map(str, shape))}], got "
            f"{tuple(targets.shape)}"
        )
    check_seed(seed)
    if labels is not None and not is_conditional(generator):
        raise ValueError("labels: this generator is not conditional; leave labels out")
    if labels is not None and len(labels) != len(targets):
        raise ValueError(f"labels: need one per target ({len(targets)}), got {len(labels)}")
    device = next(generator.parameters()).device
    targets = targets.to(device, torch.float32)
    per_target, candidate_labels = starts, None
    if is_conditional(generator):  # each target tried with every class, or with its given one
        every = torch.arange(generator.num_classes).expand(len(targets), -1)
        tried = every if labels is None else torch.as_tensor(labels).long().view(-1, 1)
        per_target = tried.shape[1] * starts
        candidate_labels = tried.repeat_interleave(starts, dim=1).flatten().to(device)
    noise = torch.randn(
        len(targets) * per_target, generator.latent_dim, generator=torch.Generator().manual_seed(seed)
    )
    return targets, noise.to(device), candidate_labels


@torch.no_grad()
def closest_start(generator, targets, z, candidate_labels) -> Inversion:
    """For each target, the start whose image ended closest in pixels."""
    per_target = len(z) // len(targets)
    condition = () if candidate_labels is None else (candidate_labels,)
    with eval_mode(generator):
        images = generator(z, *condition)
    errors = pixel_error(images, targets.repeat_interleave(per_target, dim=0)).view(len(targets), per_target)
    best = errors.argmin(dim=1) + torch.arange(len(targets), device=z.device) * per_target
    labels = None if candidate_labels is None else candidate_labels[best].cpu()
    return Inversion(z[best].cpu(), labels, images[best].float().cpu(), errors.min(dim=1).values.cpu())


# --- Editing: move z so that the classifier sees more of one class.


@dataclass
class EditPath:
    """The latent vectors of an edit, step by step, with their images and the classifier's logits."""

    z: torch.Tensor  # [steps + 1, latent_dim]: the start first
    images: torch.Tensor  # [steps + 1, 1, 28, 28]
    logits: torch.Tensor  # [steps + 1, num_classes]


def edit_loss(
    logits: torch.Tensor, start_logits: torch.Tensor, target: int, keep_others: float
) -> torch.Tensor:
    """What an edit step minimises: minus the target class's logit, plus (with ``keep_others``)
    how far the other classes' logits moved from where they started, squared."""
    others = torch.ones(logits.shape[1], dtype=torch.bool, device=logits.device)
    others[target] = False
    moved = (logits[:, others] - start_logits[:, others]).square().sum(dim=1)
    return -logits[:, target] + keep_others * moved


def edit(
    generator: nn.Module, classifier: nn.Module, z: torch.Tensor, target: int, steps: int = 12,
    step_size: float = 0.5, keep_others: float = 0.0, label: int | None = None,
) -> EditPath:  # fmt: skip
    """Steps of length ``step_size`` in z down the gradient of ``edit_loss``, from one vector ``z``.

    Steps of one length make ``steps`` say how far the edit goes, whether the classifier is flat
    or steep there. A step that would raise the loss (it overshot a bend) is halved until it
    lowers it, so the loss falls at every step of the path.
    """
    device = next(generator.parameters()).device
    z = z.reshape(1, -1).to(device).clone()
    condition = () if label is None else (torch.tensor([label], device=device),)
    with eval_mode(generator), eval_mode(classifier), torch.enable_grad():
        start_logits = classifier(generator(z, *condition)).detach()

        def loss_and_gradient(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            z = z.detach().requires_grad_(True)
            loss = edit_loss(classifier(generator(z, *condition)), start_logits, target, keep_others).sum()
            return loss.detach(), torch.autograd.grad(loss, z)[0]

        path, (loss, gradient) = [z], loss_and_gradient(z)
        for _ in range(steps):
            direction, size = gradient / gradient.norm().clamp_min(1e-12), step_size
            while True:
                candidate = path[-1] - size * direction
                new_loss, new_gradient = loss_and_gradient(candidate)
                if new_loss < loss or size < step_size / 64:  # after six halvings, take the step anyway
                    break
                size /= 2
            path.append(candidate.detach())
            loss, gradient = new_loss, new_gradient
    return trace_path(generator, classifier, torch.cat(path), condition)


@torch.no_grad()
def trace_path(generator, classifier, path, condition) -> EditPath:
    """The images and logits of every point of an edit's path."""
    with eval_mode(generator), eval_mode(classifier):
        images = generator(path, *(c.expand(len(path)) for c in condition))
        return EditPath(path.cpu(), images.float().cpu(), classifier(images).float().cpu())


# --- Directions from labelled samples.


def latent_direction(z: torch.Tensor, towards: torch.Tensor, away_from: torch.Tensor) -> torch.Tensor:
    """Mean z of the samples marked ``towards`` minus the mean z of those marked ``away_from``.

    Both are boolean masks over the rows of ``z`` (say, the classifier's verdicts on the images).
    Averaging many vectors cancels what they do not share; what is left is what tells the groups apart.
    """
    if not towards.any() or not away_from.any():
        raise ValueError("each group needs at least one sample: no row is marked in one of the masks")
    return z[towards].mean(dim=0) - z[away_from].mean(dim=0)
