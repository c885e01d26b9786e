"""A training run's state: config, models, optimizers, fixed noise, history and position."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from gan_helpers.config import TrainConfig
from gan_helpers.devices import pick_device
from gan_helpers.models import build_discriminator, build_generator, is_conditional
from gan_helpers.sampling import generate_from, grid_labels

SAMPLE_COUNT = 100  # fixed noise vectors: a 10x10 grid watched over the whole run


@dataclass
class Run:
    """Everything needed to continue training exactly where it stopped."""

    config: TrainConfig
    generator: nn.Module
    discriminator: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    fixed_noise: torch.Tensor
    device: torch.device
    history: dict[str, list[float]] = field(default_factory=dict)
    epoch: int = 0  # completed epochs
    batch: int = 0  # batches done in the current epoch
    step: int = 0  # batches done in all

    @property
    def run_dir(self) -> Path:
        return Path(self.config.output_dir) / self.config.name

    @property
    def checkpoint_path(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def finished(self) -> bool:
        return self.epoch >= self.config.num_epochs

    def samples(self) -> torch.Tensor:
        """The generator's images for the fixed noise, in eval mode (batch norm uses running stats).

        A conditional generator draws the classes in order, one row of the 10x10 grid each.
        """
        labels = None
        if is_conditional(self.generator):
            labels = grid_labels(len(self.fixed_noise), self.generator.num_classes)
        return generate_from(self.generator, self.fixed_noise, labels)


def memory_format(config: TrainConfig) -> torch.memory_format:
    """Channels-last (NHWC) for convolutional models when the config asks; else the default."""
    return torch.channels_last if config.channels_last and config.model != "mlp" else torch.contiguous_format


def new_run(config: TrainConfig) -> Run:
    """Fresh models and optimizers; ``config.seed`` fixes the weights, noise and data order."""
    device = pick_device(config.device)
    torch.manual_seed(config.seed)
    layout = memory_format(config)
    generator = build_generator(config.model, config.latent_dim, config.num_classes)
    discriminator = build_discriminator(config.model, config.num_classes)
    generator, discriminator = (m.to(device, memory_format=layout) for m in (generator, discriminator))
    noise_rng = torch.Generator().manual_seed(config.seed + 1)
    fixed_noise = torch.randn(SAMPLE_COUNT, config.latent_dim, generator=noise_rng).to(device)
    opt_g = adam(generator, config.lr_g, config.betas, device)
    opt_d = adam(discriminator, config.lr_d, config.betas, device)
    return Run(config, generator, discriminator, opt_g, opt_d, fixed_noise, device)


def adam(model: nn.Module, lr: float, betas: tuple[float, float], device: torch.device) -> torch.optim.Adam:
    """Adam; on CUDA fused (one kernel for all parameters) and capturable (CUDA graphs can record it)."""
    cuda = device.type == "cuda"  # on the CPU the default implementation is as fast
    return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, fused=cuda or None, capturable=cuda)
