"""Chapter 05: the classifier behind the first feature space of the metrics. Its network, how
it is trained (``train-classifier``), its class probabilities, and its shipped weights; a
small CNN that knows what makes a sneaker a sneaker, trained on Fashion-MNIST's labels."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm.auto import tqdm

from gan_helpers.checks import integer, number
from gan_helpers.config import check_device
from gan_helpers.data import BatchIterator, ImageData, scaled_batches
from gan_helpers.files import atomic_save
from gan_helpers.runs import read_checkpoint
from gan_helpers.weights import WEIGHTS_DIR


class FashionClassifier(nn.Module):
    """Two blocks of two 3x3 convolutions with max pooling, then a 128-d feature layer.

    Its features are the space of the project's quality metrics (chapter 05).
    """

    def __init__(self, num_classes: int = 10, features: int = 128) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(1, 32), conv_block(32, 32), nn.MaxPool2d(2),  # 14x14
            conv_block(32, 64), conv_block(64, 64), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(features, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def conv_block(channels_in: int, channels_out: int) -> nn.Sequential:
    """A 3x3 convolution, batch norm and ReLU, keeping the map size."""
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


@dataclass
class ClassifierConfig:
    """How the classifier behind the quality metrics is trained (``train-classifier``)."""

    num_epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        self.num_epochs = integer("ClassifierConfig.num_epochs", self.num_epochs, 1)
        self.batch_size = integer("ClassifierConfig.batch_size", self.batch_size, 1)
        self.seed = integer("ClassifierConfig.seed", self.seed, 0)
        self.lr = number("ClassifierConfig.lr", self.lr, 0, 1)
        check_device("ClassifierConfig.device", self.device)


def train_classifier(config: ClassifierConfig, train: ImageData, test: ImageData, device) -> tuple:
    """Adam with a one-cycle schedule and random horizontal flips; returns (model, test accuracy)."""
    torch.manual_seed(config.seed)
    model = FashionClassifier(len(train.class_names)).to(device)
    batches = BatchIterator(train, config.batch_size, device=device, drop_last=True, seed=config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, config.lr, total_steps=config.num_epochs * len(batches)
    )
    for epoch in range(config.num_epochs):
        model.train()
        for images, labels in tqdm(batches, desc=f"classifier epoch {epoch + 1}", leave=False):
            flip = torch.rand(len(images), 1, 1, 1, device=device) < 0.5
            images = torch.where(flip, images.flip(-1), images)  # clothes look alike mirrored
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
        accuracy = evaluate_accuracy(model, test, device)
        print(f"epoch {epoch + 1}/{config.num_epochs}: test accuracy {accuracy:.2%}", flush=True)
    return model.eval(), accuracy


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, data: ImageData, device) -> float:
    """Share of ``data`` the model labels correctly."""
    predictions = predict(model, data.images, device).argmax(1)
    return (predictions == data.labels.to(predictions.device)).float().mean().item()


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, device="cpu") -> torch.Tensor:
    """Class probabilities [N, classes] for uint8 or [-1, 1] float images."""
    return torch.cat([F.softmax(model(b), 1) for b in scaled_batches(images, device)]).cpu()


@torch.no_grad()
def features_and_predictions(
    model: nn.Module, images: torch.Tensor, device="cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The 128-d features (float64, for the statistics) and the class probabilities of images,
    from one pass: the head reads the features, so the network need not run twice."""
    features, probabilities = [], []
    for batch in scaled_batches(images, device):
        hidden = model.features(batch)
        features.append(hidden)
        probabilities.append(F.softmax(model.head(hidden), 1))
    return torch.cat(features).double().cpu(), torch.cat(probabilities).cpu()


def save_classifier(model: nn.Module, config: ClassifierConfig, accuracy: float, path) -> Path:
    """Save the trained classifier with its config and test accuracy."""
    state = {"format": 1, "kind": "classifier", "config": asdict(config),
             "test_accuracy": accuracy, "classifier": model.state_dict()}  # fmt: skip
    return atomic_save(state, path)


def load_classifier(path: str | Path = WEIGHTS_DIR / "classifier.pt", device="cpu") -> FashionClassifier:
    """The trained classifier (the shipped one by default), in eval mode."""
    state = read_checkpoint(path)
    if state["kind"] != "classifier":
        raise ValueError(f"{path} holds a {state['kind']!r} model, not the classifier")
    with torch.random.fork_rng(devices=[]):  # its random first weights are overwritten anyway:
        model = FashionClassifier()  # drawing them must not move a training run's random state
    model.load_state_dict(state["classifier"])
    model.test_accuracy = state["test_accuracy"]
    return model.to(device).eval()
