"""A small Fashion-MNIST classifier whose penultimate layer is the feature space of our metrics.

Inception-v3 (behind the usual FID) needs downloaded weights and sees 28x28 clothing poorly;
a network trained on Fashion-MNIST itself knows what makes a sneaker a sneaker.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn
from tqdm.auto import tqdm

from gan_helpers.batches import BatchIterator
from gan_helpers.checkpoints import atomic_save, read_checkpoint
from gan_helpers.data import ImageData, load_fashion_mnist, scale

WEIGHTS = Path(__file__).parent / "weights" / "classifier.pt"
FEATURES = 128


class FashionClassifier(nn.Module):
    """Two blocks of two 3x3 convolutions with max pooling, then a 128-d feature layer."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            _conv(1, 32), _conv(32, 32), nn.MaxPool2d(2),  # 14x14
            _conv(32, 64), _conv(64, 64), nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
            nn.Dropout(0.3),
            nn.Linear(64 * 7 * 7, FEATURES),
            nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, num_classes))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))


def _conv(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(channels_out),
        nn.ReLU(),
    )


@dataclass
class ClassifierConfig:
    num_epochs: int = 15
    batch_size: int = 128
    lr: float = 2e-3
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        for name, low in (("num_epochs", 1), ("batch_size", 1), ("seed", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"ClassifierConfig.{name} = {value!r}: must be an integer >= {low}")
        if not 0 < self.lr <= 1:
            raise ValueError(f"ClassifierConfig.lr = {self.lr!r}: must be a number in (0, 1]")


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
def predict(model: nn.Module, images: torch.Tensor, device="cpu", batch_size: int = 1000) -> torch.Tensor:
    """Class probabilities [N, classes] for uint8 or [-1, 1] float images."""
    return torch.cat([F.softmax(model(b), 1) for b in _batches(images, device, batch_size)]).cpu()


@torch.no_grad()
def extract_features(model: nn.Module, images: torch.Tensor, device="cpu", batch_size: int = 1000):
    """The 128-d penultimate-layer features [N, 128] (float64 on the CPU, for the statistics)."""
    return torch.cat([model.features(b) for b in _batches(images, device, batch_size)]).double().cpu()


def _batches(images: torch.Tensor, device, batch_size: int):
    was_uint8 = images.dtype == torch.uint8
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(device)
        yield scale(batch) if was_uint8 else batch.float()


def save_classifier(model: nn.Module, config: ClassifierConfig, accuracy: float, path) -> Path:
    state = {"format": 1, "kind": "classifier", "config": asdict(config),
             "test_accuracy": accuracy, "classifier": model.state_dict()}  # fmt: skip
    return atomic_save(state, path)


def load_classifier(path: str | Path = WEIGHTS, device="cpu") -> FashionClassifier:
    """The trained classifier (the shipped one by default), in eval mode."""
    state = read_checkpoint(path)
    if state["kind"] != "classifier":
        raise ValueError(f"{path} holds a {state['kind']!r} model, not the classifier")
    model = FashionClassifier()
    model.load_state_dict(state["classifier"])
    model.test_accuracy = state["test_accuracy"]
    return model.to(device).eval()


def run_train_classifier(config: ClassifierConfig, output: str | Path) -> float:
    """The ``train-classifier`` command: train, report test accuracy, save."""
    from gan_helpers.devices import pick_device

    device = pick_device(config.device)
    train, test = load_fashion_mnist(train=True), load_fashion_mnist(train=False)
    model, accuracy = train_classifier(config, train, test, device)
    print(f"saved {save_classifier(model.cpu(), config, accuracy, output)} (test accuracy {accuracy:.2%})")
    return accuracy
