"""Chapter 05: the second feature space of the quality metrics, an encoder trained without labels.

The classifier's features see what separates the ten classes, and little else. This encoder is
trained to tell every training image from every other one (contrastive, SimCLR: Chen et al.,
2020), or to rebuild each image through a 128-number bottleneck (an autoencoder), so its
features also hold the shape, texture and detail within a class. Chapter 05 measures both kinds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm.auto import tqdm

from gan_helpers.checks import integer, number, one_of
from gan_helpers.data import BatchIterator, ImageData
from gan_helpers.files import atomic_save
from gan_helpers.image_folder import FolderData
from gan_helpers.models import IMAGE_SHAPE, Shape, shape_text
from gan_helpers.runs import pick_device, read_checkpoint
from gan_helpers.weights import WEIGHTS_DIR

METHODS = ("contrastive", "autoencoder")


@dataclass
class EncoderConfig:
    """How the label-free encoder is trained (``train-encoder``)."""

    method: str = "contrastive"
    num_epochs: int = 10
    batch_size: int = 256
    lr: float = 2e-3
    temperature: float = 0.2  # contrastive only: how sharply the loss tells the pairs apart
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        one_of("EncoderConfig.method", self.method, METHODS)
        self.num_epochs = integer("EncoderConfig.num_epochs", self.num_epochs, 1)
        self.batch_size = integer("EncoderConfig.batch_size", self.batch_size, 2)
        self.seed = integer("EncoderConfig.seed", self.seed, 0)
        self.lr = number("EncoderConfig.lr", self.lr, 0, 10)
        self.temperature = number("EncoderConfig.temperature", self.temperature, 0, 10)


class Encoder(nn.Module):
    """Strided convolutions down to 4x4 (three for 28x28: 14, 7, 4), then a 128-d feature vector
    (``features``), and the head that training needs: a projection for the contrastive loss, or a
    decoder for the autoencoder (28x28 grey images only). Chapter 10 builds it for a folder's
    ``image_shape``: 32 or 64 pixels, grey or colour."""

    def __init__(
        self, method: str = "contrastive", features: int = 128, image_shape: Shape = IMAGE_SHAPE
    ) -> None:
        super().__init__()
        self.method, self.image_shape = method, tuple(image_shape)
        if method == "autoencoder" and self.image_shape != IMAGE_SHAPE:
            size = shape_text(self.image_shape)
            raise ValueError(f"the autoencoder is built for 1x28x28 images, not {size}: use contrastive")
        channels, side, _ = image_shape
        layers, depth = [], 0
        while side > 4:  # halve the side (an odd one rounds up: 7 -> 4) and double the maps, to 128
            outputs = min(128, 32 * 2**depth)
            kernel = 4 if side % 2 == 0 else 3
            layers += [nn.Conv2d(channels, outputs, kernel, 2, 1), nn.BatchNorm2d(outputs), nn.ReLU()]
            channels, side, depth = outputs, (side + 1) // 2, depth + 1
        self.features = nn.Sequential(*layers, nn.Flatten(), nn.Linear(channels * 4 * 4, features))
        if method == "contrastive":  # the loss acts on a projection, so the features keep more
            self.head = nn.Sequential(
                nn.ReLU(), nn.Linear(features, features), nn.ReLU(), nn.Linear(features, 64)
            )
        else:
            self.head = nn.Sequential(
                nn.Linear(features, 64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
                nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),  # 14x14
                nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh(),  # 28x28, in [-1, 1] like the images
            )  # fmt: skip

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def augment(images: torch.Tensor) -> torch.Tensor:
    """Two views of one garment: a random zoom (1-1.3x), shift (up to 3 pixels), small rotation
    and mirror per image. Only geometry: blur, noise and brightness stay visible to the features."""
    count = len(images)
    zoom = 1 / torch.empty(count, device=images.device).uniform_(1.0, 1.3)
    angle = torch.empty(count, device=images.device).uniform_(-0.17, 0.17)  # about 10 degrees
    mirror = torch.where(torch.rand(count, device=images.device) < 0.5, -1.0, 1.0)
    shift = torch.empty(count, 2, device=images.device).uniform_(-0.2, 0.2)
    cos, sin = torch.cos(angle) * zoom, torch.sin(angle) * zoom
    theta = torch.stack([torch.stack([cos * mirror, -sin, shift[:, 0]], 1),
                         torch.stack([sin * mirror, cos, shift[:, 1]], 1)], 1)  # fmt: skip
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    # The background is -1 (black): pixels pulled in from outside the picture stay background.
    return F.grid_sample(images + 1, grid, padding_mode="zeros", align_corners=False) - 1


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: each view must pick its twin out of the other 2N - 2 images of the batch.

    Cross-entropy over cosine similarities / temperature, the twin as the right answer.
    """
    z = F.normalize(torch.cat([a, b]), dim=1)
    similarity = z @ z.T / temperature
    similarity.fill_diagonal_(float("-inf"))  # an image is not its own twin
    count = len(a)
    twins = torch.cat([torch.arange(count, 2 * count), torch.arange(count)]).to(a.device)
    return F.cross_entropy(similarity, twins)


def encoder_loss(model: Encoder, images: torch.Tensor, temperature: float) -> torch.Tensor:
    """The training loss of either method on one batch of real images in [-1, 1]."""
    if model.method == "contrastive":
        return contrastive_loss(model(augment(images)), model(augment(images)), temperature)
    return F.mse_loss(model(images), images)  # rebuild the image from its 128 numbers


def train_encoder(config: EncoderConfig, train: ImageData, device) -> Encoder:
    """Adam with a one-cycle schedule on the training images (any size the networks take); labels
    are never read."""
    torch.manual_seed(config.seed)
    model = Encoder(config.method, image_shape=train.images.shape[1:]).to(device)
    batches = BatchIterator(train, config.batch_size, device=device, drop_last=True, seed=config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    steps = config.num_epochs * len(batches)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr, total_steps=steps)
    report_every = max(1, config.num_epochs // 10)  # ten lines, however many short epochs
    model.train()
    with tqdm(total=steps, desc="encoder", leave=False) as bar:
        for epoch in range(config.num_epochs):
            total = 0.0
            for images, _ in batches:
                loss = encoder_loss(model, images, config.temperature)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item()
                bar.update()
            if (epoch + 1) % report_every == 0 or epoch + 1 == config.num_epochs:
                mean = total / len(batches)
                bar.write(f"epoch {epoch + 1}/{config.num_epochs}: {config.method} loss {mean:.4f}")
    return model.eval()


FOLDER_STEPS = 1500  # batches a folder's encoder learns from, however few its images


def folder_config(count: int, seed: int = 0, device: str = "auto") -> EncoderConfig:
    """How an encoder learns a folder's ``count`` training images: batches of up to 128 (at most
    half the images, so an epoch has two), for about ``FOLDER_STEPS`` batches: a few hundred
    images need hundreds of passes, as a GAN on them does."""
    if count < 4:
        raise ValueError(f"{count} training images: a folder's encoder needs at least 4; add images")
    batch_size = min(128, count // 2)
    epochs = -(-FOLDER_STEPS // (count // batch_size))  # rounded up
    return EncoderConfig(num_epochs=epochs, batch_size=batch_size, seed=seed, device=device)


def folder_encoder_path(folder: FolderData) -> Path:
    """Where a folder's encoder is kept: beside its cache, one per image shape."""
    if folder.place is None:
        raise ValueError(f"{folder.record['path']} was read without a cache; give the encoder's file")
    return folder.place / f"encoder-{shape_text(tuple(folder.data.images.shape[1:]))}.pt"


def encoder_for_folder(folder: FolderData, device="cpu") -> Encoder:
    """The folder's own label-free encoder, kept beside its cache: trained on the folder's
    training images (never the held-out ones) the first time it is asked for."""
    path = folder_encoder_path(folder)
    if path.is_file():
        return load_encoder(path, device)
    training = folder.part(held=False)
    print(f"Training the label-free encoder on the {len(training)} training images of "
          f"{folder.record['path']} (first use; kept as {path})", flush=True)  # fmt: skip
    config = folder_config(len(training))
    model = train_encoder(config, training, pick_device(config.device))
    atomic_save(encoder_state(model.cpu(), config), path)
    return model.to(device)


def encoder_state(model: Encoder, config: EncoderConfig) -> dict:
    """What the weights file holds: the features' weights (the head is needed only to train)."""
    weights = {key: value for key, value in model.state_dict().items() if key.startswith("features.")}
    return {"format": 1, "kind": "encoder", "config": asdict(config), "encoder": weights,
            "image_shape": list(model.image_shape)}  # fmt: skip


def encoder_from_state(state: dict) -> Encoder:
    """The encoder of a weights file's contents, in eval mode, without its training head."""
    with torch.random.fork_rng(devices=[]):  # building it must not move a training run's random state
        model = Encoder(state["config"]["method"], image_shape=state.get("image_shape", IMAGE_SHAPE))
    model.head = nn.Identity()
    model.load_state_dict(state["encoder"])
    return model.eval()


def load_encoder(path: str | Path = WEIGHTS_DIR / "encoder.pt", device="cpu") -> Encoder:
    """The label-free encoder of the metrics' second space (the shipped one by default), in eval mode."""
    state = read_checkpoint(path)
    if state["kind"] != "encoder":
        kind = state["kind"]
        raise ValueError(f"{path} holds a {kind!r} model, not the encoder; train one with train-encoder")
    return encoder_from_state(state).to(device)
