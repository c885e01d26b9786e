"""Chapter 08: spectral normalization written out, and the measurement chapter 08 plots (each
layer's largest singular value); the SN-GAN's discriminator is with the other networks in
``gan_helpers.models``.

A layer's weight ``W`` is divided by its largest singular value ``sigma(W)``, so the layer can
stretch no input by more than a factor 1 and the discriminator's slope stays bounded (Miyato et
al., 2018). ``sigma`` is estimated by power iteration: one step per forward pass, with vectors
kept between passes, so the estimate follows the slowly changing weight almost for free.

``SpectralNorm`` is the teaching version, checked against ``torch.linalg.matrix_norm`` and
against PyTorch's ``torch.nn.utils.parametrizations.spectral_norm``, which the trained models
use. Chapter 08 defines these in its cells; ``tools/export_code.py --check`` keeps the two equal.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn


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


