"""The yardstick: the textbook training loop, as tutorials write it, for the same architectures.

torchvision dataset with ToTensor + Normalize applied image by image, a shuffling DataLoader,
a fresh `.to(device)` per batch, and `.item()` on every loss at every step for logging. The
networks are the project's own `gan_helpers.models` (plain `torch.nn` layers, same sizes, same
initial weights), run as they are: without the faster layers, NHWC layout, CUDA graphs and
malloc setting that our engine adds from `gan_helpers.speed`. Any difference in speed comes
from the loop and those.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from gan_helpers.config import TrainConfig
from gan_helpers.data import DATA_DIR, load_fashion_mnist
from gan_helpers.kinds import build_discriminator, build_generator

# Where the package's defaults depart from the textbook settings, the textbook loop keeps the latter:
# for the DCGAN, the paper's batches of 128 (passed in) and learning rates of 2e-4, and dropout 0.3
# in the discriminator where the paper has batch norm.
TEXTBOOK_SETTINGS = {"dcgan": {"lr_g": 2e-4, "lr_d": 2e-4, "dropout": 0.3}}


def textbook_loader(batch_size: int) -> DataLoader:
    load_fashion_mnist()  # make sure the raw files are in data/ (offline: from the Debian copy)
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    dataset = datasets.FashionMNIST(DATA_DIR, train=True, download=False, transform=transform)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True)


class TextbookGAN:
    """MLP GAN or DCGAN (non-saturating loss) or WGAN-GP, trained the textbook way."""

    def __init__(self, model: str, device: str, batch_size: int = 128, seed: int = 0) -> None:
        torch.manual_seed(seed)
        settings = TEXTBOOK_SETTINGS.get(model, {})
        self.config = TrainConfig.for_model(model, device=device, batch_size=batch_size, **settings)
        self.device = device
        self.generator = build_generator(model).to(device)
        self.discriminator = build_discriminator(model, dropout=self.config.dropout).to(device)
        cfg = self.config
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=cfg.lr_g, betas=cfg.betas)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr_d, betas=cfg.betas)
        self.batches = itertools.chain.from_iterable(itertools.repeat(textbook_loader(batch_size)))
        self.criterion = nn.BCEWithLogitsLoss()
        self.log: list[tuple[float, ...]] = []
        self.step_count = 0

    def train_steps(self, steps: int) -> None:
        for _ in range(steps):
            real, _labels = next(self.batches)
            real = real.to(self.device)
            if self.config.model == "wgan-gp":
                self.wgan_gp_step(real)
            else:
                self.gan_step(real)
            self.step_count += 1

    def gan_step(self, real: torch.Tensor) -> None:
        b = real.size(0)
        ones, zeros = torch.ones(b, device=self.device), torch.zeros(b, device=self.device)
        fake = self.generator(torch.randn(b, self.config.latent_dim, device=self.device))
        self.opt_d.zero_grad()
        loss_d = self.criterion(self.discriminator(real), ones)
        loss_d = loss_d + self.criterion(self.discriminator(fake.detach()), zeros)
        loss_d.backward()
        self.opt_d.step()
        self.opt_g.zero_grad()
        loss_g = self.criterion(self.discriminator(fake), ones)
        loss_g.backward()
        self.opt_g.step()
        self.log.append((loss_d.item(), loss_g.item()))

    def wgan_gp_step(self, real: torch.Tensor) -> None:
        b, critic = real.size(0), self.discriminator
        fake = self.generator(torch.randn(b, self.config.latent_dim, device=self.device))
        alpha = torch.rand(b, 1, 1, 1, device=self.device)
        mixed = (alpha * real + (1 - alpha) * fake.detach()).requires_grad_(True)
        scores = critic(mixed)
        grads = torch.autograd.grad(scores, mixed, torch.ones_like(scores), create_graph=True)[0]
        penalty = ((grads.view(b, -1).norm(2, dim=1) - 1) ** 2).mean()
        self.opt_d.zero_grad()
        loss_d = critic(fake.detach()).mean() - critic(real).mean() + self.config.gp_weight * penalty
        loss_d.backward()
        self.opt_d.step()
        self.log.append((loss_d.item(), penalty.item()))
        if (self.step_count + 1) % self.config.n_critic == 0:
            self.opt_g.zero_grad()
            z = torch.randn(b, self.config.latent_dim, device=self.device)
            loss_g = -critic(self.generator(z)).mean()
            loss_g.backward()
            self.opt_g.step()
            self.log.append((loss_g.item(),))
