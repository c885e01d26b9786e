"""Classifier training and loading, the evaluate pipeline and command, slerp and the GIF writer."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from gan_helpers import classifier, evaluation, metrics
from gan_helpers.classifier import ClassifierConfig, FashionClassifier, train_classifier
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.data import CLASS_NAMES, ImageData, load_dataset
from gan_helpers.evaluation import format_table
from gan_helpers.images import make_gif, save_grid
from gan_helpers.runs import new_run, save_checkpoint
from gan_helpers.sampling import generate, slerp
from tests.helpers import tiny_spec, write_fake_dataset


@pytest.fixture
def fake_root(tmp_path, monkeypatch):
    """A tiny synthetic dataset that every loader in the evaluation code reads."""
    root = tmp_path / "data"
    write_fake_dataset(root / "FashionMNIST" / "raw", per_class=3)
    tiny = lambda train=True: load_dataset(tiny_spec(), root, train, system_dir=None, download=False)  # noqa: E731
    monkeypatch.setattr(evaluation, "load_fashion_mnist", tiny)
    return root


def striped_data(count: int = 100) -> ImageData:
    """Class k is a bright horizontal band at rows 2k..2k+7: easy to learn, so learning shows."""
    labels = torch.arange(count) % 10
    images = torch.randint(0, 60, (count, 1, 28, 28), generator=torch.Generator().manual_seed(0))
    for i, label in enumerate(labels.tolist()):
        images[i, 0, 2 * label : 2 * label + 8] += 180
    return ImageData(images.to(torch.uint8), labels, CLASS_NAMES, True)


def test_classifier_learns_and_round_trips(tmp_path):
    data = striped_data()
    config = ClassifierConfig(num_epochs=5, batch_size=10, lr=5e-3)
    model, accuracy = train_classifier(config, data, data, "cpu")
    assert accuracy > 0.8
    path = classifier.save_classifier(model, config, accuracy, tmp_path / "c.pt")
    loaded = classifier.load_classifier(path)
    assert loaded.test_accuracy == accuracy
    assert torch.equal(classifier.predict(loaded, data.images), classifier.predict(model, data.images))
    assert evaluation.extract_features(loaded, data.images).shape == (100, 128)
    # one pass gives what the two separate passes give
    features, probabilities = classifier.features_and_predictions(loaded, data.images)
    assert torch.equal(features, evaluation.extract_features(loaded, data.images))
    assert torch.allclose(features, evaluation.extract_features(loaded, data.images, batch_size=7), atol=1e-5)
    assert torch.allclose(probabilities, classifier.predict(loaded, data.images), atol=1e-6)
    with pytest.raises(ValueError, match="num_epochs = 0"):
        ClassifierConfig(num_epochs=0)


def test_wrong_file_is_refused_as_classifier(fake_root, tmp_path):
    run = new_run(TrainConfig.for_model("mlp", device="cpu", data_root=str(fake_root)))
    path = save_checkpoint(run, tmp_path / "g.pt")
    with pytest.raises(ValueError, match="holds a 'mlp' model, not the classifier"):
        classifier.load_classifier(path)


def test_evaluate_command_prints_a_row_per_model(fake_root, tmp_path, monkeypatch, capsys):
    saved = classifier.save_classifier(FashionClassifier().eval(), ClassifierConfig(), 0.5, tmp_path / "c.pt")
    real_load = classifier.load_classifier
    monkeypatch.setattr(evaluation, "load_classifier", lambda device="cpu": real_load(saved, device))
    run = new_run(TrainConfig.for_model("dcgan", device="cpu", data_root=str(fake_root)))
    checkpoint = save_checkpoint(run, tmp_path / "dcgan.pt")
    other = save_checkpoint(new_run(TrainConfig.for_model("dcgan", device="cpu", seed=5)), tmp_path / "b.pt")
    assert main(["evaluate", str(checkpoint), str(other), str(checkpoint), "--samples", "30"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("30 samples per row (noise seed 0)")
    table = lines[lines.index(next(line for line in lines if line.startswith("model"))) + 2 :]
    rows = [line.split()[0] for line in table[::2]]  # labelled as typed: two dcgan files stay two rows
    assert rows == ["real", str(checkpoint), str(other), str(checkpoint)]
    assert [line.split()[0] for line in table[1::2]] == ["encoder"] * 4  # each model's second row
    assert table[4].split()[2] != table[2].split()[2]  # another generator, another FD
    assert main(["evaluate", str(checkpoint), "--samples", "5"]) == 2


def test_real_row_is_the_best_on_fd():
    """Identical feature sets score perfectly; a shifted set does not."""
    features = torch.randn(200, 8, dtype=torch.float64)
    same = metrics.frechet_distance(features, features)
    assert same < 1e-8 < metrics.frechet_distance(features, features + 1)


def test_slerp_stays_on_the_sphere_and_hits_the_ends():
    z0, z1 = torch.randn(100), torch.randn(100)
    z1 = z1 / z1.norm() * z0.norm()
    path = slerp(z0, z1, 7)
    assert torch.allclose(path[0], z0, atol=1e-5) and torch.allclose(path[-1], z1, atol=1e-5)
    assert torch.allclose(path.norm(dim=1), z0.norm().expand(7), rtol=1e-4)
    with pytest.raises(ValueError, match="at least 2"):
        slerp(z0, z1, 1)


def test_generate_is_seeded_and_gif_has_all_frames(tmp_path):
    generator = new_run(TrainConfig.for_model("dcgan", device="cpu")).generator
    assert torch.equal(generate(generator, 4, seed=1), generate(generator, 4, seed=1))
    frames = [save_grid(generate(generator, 4, seed=s), tmp_path / f"epoch_{s}.png") for s in range(3)]
    gif = make_gif(frames, tmp_path / "progress.gif")
    assert Image.open(gif).n_frames == 3
    with pytest.raises(ValueError, match="at least one frame"):
        make_gif([], tmp_path / "none.gif")


def test_a_table_row_name_never_runs_into_its_numbers():
    row = {"FD": 31.99, "KID x1e3": 200.0, "KID std x1e3": 20.0, "IS": 6.0, "precision": 0.6,
           "recall": 0.2, "class entropy": 3.3}  # fmt: skip
    lines = format_table({"last weights": row, "average of the weights": row}).splitlines()
    assert len({len(line) for line in lines}) == 1  # every row as wide as the header
    assert lines[-1].startswith("average of the weights ") and "31.99" in lines[-1]


def test_a_number_wider_than_its_column_never_runs_into_the_next():
    row = {"FD": 442.78, "KID x1e3": 97568.31, "KID std x1e3": 1770.68, "IS": math.nan, "precision": 0.0,
           "recall": 0.0, "class entropy": math.nan}  # fmt: skip
    cells = format_table({"far": row}).splitlines()[-1].split()
    assert cells[:5] == ["far", "442.78", "97568.31", "±", "1770.68"]
