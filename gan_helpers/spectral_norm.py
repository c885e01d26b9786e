"""Spectral normalization written out (chapter 08), the discriminator that uses it, its
initialisation, and the measurement chapter 08 plots.

A layer's weight ``W`` is divided by its largest singular value ``sigma(W)``, so the layer can
stretch no input by more than a factor 1 and the discriminator's slope stays bounded (Miyato et
al., 2018). ``sigma`` is estimated by power iteration: one step per forward pass, with vectors
kept between passes, so the estimate follows the slowly changing weight almost for free.

``SpectralNorm`` is the teaching version, checked against ``torch.linalg.matrix_norm`` and
against PyTorch's ``torch.nn.utils.parametrizations.spectral_norm``, which the trained models
use. Chapter 08 defines these in its cells; ``tools/export_code.py --check`` keeps the two equal.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from torch.nn.utils import parametrizations


class SpectralNorm(nn.Module):
    """A parametrization ``W -> W / sigma(W)``, with ``sigma`` from one power-iteration step per call.

    A convolution's weight ``[out, in, k, k]`` is treated as the matrix ``[out, in * k * k]``,
    as in the paper. ``u`` and ``v`` are estimates of the top singular vectors; they change only
    in training mode, and are constants to autograd (the gradient flows through ``W`` alone).
    """

    def __init__(self, weight: torch.Tensor, eps: float = 1e-12) -> None:
        super().__init__()
        self.eps = eps
        rows, columns = weight.shape[0], weight[0].numel()
        self.register_buffer("u", F.normalize(weight.new_empty(rows).normal_(), dim=0, eps=eps))
        self.register_buffer("v", F.normalize(weight.new_empty(columns).normal_(), dim=0, eps=eps))

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        matrix = weight.flatten(start_dim=1)
        if self.training:
            with torch.no_grad():  # one power-iteration step: u <- W v / |W v|, v <- W^T u / |W^T u|
                self.u.copy_(F.normalize(matrix @ self.v, dim=0, eps=self.eps))
                self.v.copy_(F.normalize(matrix.t() @ self.u, dim=0, eps=self.eps))
        u, v = self.u.clone(), self.v.clone()  # copies: the next call's update must not change this graph
        sigma = u @ matrix @ v  # u^T W v: the largest singular value once u and v have converged
        return weight / sigma


def largest_singular_values(model: nn.Module) -> dict[str, float]:
    """The largest singular value of each convolution's and linear layer's weight as it is used
    (after spectral normalization, where there is any), each weight taken as a matrix.

    Read in eval mode: reading a normalized weight in training mode would run a power-iteration
    step, and so change the run it measures.
    """
    values, was_training = {}, model.training
    model.eval()
    try:
        with torch.no_grad():
            for name, layer in model.named_modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    matrix = layer.weight.flatten(start_dim=1).float()
                    values[name] = torch.linalg.matrix_norm(matrix, ord=2).item()
    finally:
        model.train(was_training)
    return values


class SNDiscriminator(nn.Module):
    """The DCGAN discriminator with spectral norm on every layer and no dropout (chapter 08).

    Each layer's weight is divided by its largest singular value, so each stretches its input
    by at most 1 and the whole network's slope is bounded: a discriminator that cannot become
    arbitrarily sharp. ``spectral_norm=False`` gives the same network without it, for comparison.
    """

    def __init__(self, width: int = 64, spectral_norm: bool = True) -> None:
        super().__init__()
        normed = parametrizations.spectral_norm if spectral_norm else (lambda layer: layer)
        self.net = nn.Sequential(
            normed(nn.Conv2d(1, width, 4, stride=2, padding=1)),  # 14x14
            nn.LeakyReLU(0.2),
            normed(nn.Conv2d(width, 2 * width, 4, stride=2, padding=1)),  # 7x7
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            normed(nn.Linear(2 * width * 7 * 7, 1)),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


def init_normalized(layer: nn.Module, power_steps: int = 15) -> None:
    """A layer under PyTorch's spectral norm drawn afresh: PyTorch's default initialisation of its
    weight and bias (what chapter 08's table measured; the normalization divides the scale out of
    the forward pass, but it still sets how far each of Adam's steps moves the normalized weight),
    and new singular-vector estimates for that weight, as the parametrization makes them."""
    original = layer.parametrizations.weight.original
    nn.init.kaiming_uniform_(original, a=math.sqrt(5))  # torch.nn.Conv2d's and Linear's own default
    if layer.bias is not None:
        bound = 1 / math.sqrt(original[0].numel())
        nn.init.uniform_(layer.bias, -bound, bound)
    norm = layer.parametrizations.weight[0]
    matrix = original.detach().flatten(start_dim=1)
    with torch.no_grad():
        u = F.normalize(torch.randn_like(norm._u), dim=0, eps=norm.eps)
        v = F.normalize(torch.randn_like(norm._v), dim=0, eps=norm.eps)
        for _ in range(power_steps):
            u = F.normalize(matrix @ v, dim=0, eps=norm.eps)
            v = F.normalize(matrix.t() @ u, dim=0, eps=norm.eps)
        norm._u.copy_(u)
        norm._v.copy_(v)
