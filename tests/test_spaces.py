"""The second feature space (the label-free encoder) and the checks that both spaces' metrics
measure what they claim, on real Fashion-MNIST images."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from gan_helpers.data import load_fashion_mnist, scale, take_subset
from gan_helpers.encoder import (
    Encoder,
    EncoderConfig,
    augment,
    contrastive_loss,
    encoder_state,
    load_encoder,
    train_encoder,
)
from gan_helpers.evaluation import SPACES, Reference, evaluation_report
from gan_helpers.sensitivity import format_sensitivity, sensitivity_table, within_class_share
from gan_helpers.weights import WEIGHTS_DIR, load_pretrained


@pytest.fixture(scope="module")
def references():
    return [Reference.build(count=1_000, seed=0, space=space) for space in SPACES]


@pytest.fixture(scope="module")
def sensitivity(references):
    return sensitivity_table(references, count=1_000)


def rows_of(table, damage):
    return [row for row in table if row["damage"] == damage]


def test_test_images_are_near_zero_against_training_images_in_both_spaces(sensitivity):
    undamaged = sensitivity[0]
    for space in SPACES:
        damaged = sorted(row[space]["FD"] for row in sensitivity[1:])
        # FD's own bias at 1,000 samples keeps it above 0: well below the mildest damage, and a
        # small fraction of a typical one.
        assert undamaged[space]["FD"] < 0.4 * damaged[0], space
        assert undamaged[space]["FD"] < 0.1 * damaged[len(damaged) // 2], space
        assert undamaged[space]["precision"] > 0.8 and undamaged[space]["recall"] > 0.8, space


@pytest.mark.parametrize("damage", ["blurred", "noised", "classes removed", "near-copies"])
def test_fd_grows_with_each_kind_of_damage_in_both_spaces(sensitivity, damage):
    for space in SPACES:
        distances = [sensitivity[0][space]["FD"]] + [row[space]["FD"] for row in rows_of(sensitivity, damage)]
        assert distances == sorted(distances) and len(set(distances)) == len(distances), (space, distances)


@pytest.mark.parametrize("damage", ["blurred", "noised"])
def test_blur_and_noise_lower_recall_and_precision_in_both_spaces(sensitivity, damage):
    for space in SPACES:
        rows = [sensitivity[0], *rows_of(sensitivity, damage)]
        recall = [row[space]["recall"] for row in rows]
        precision = [row[space]["precision"] for row in rows]
        assert recall == sorted(recall, reverse=True) and recall[-1] < 0.5 * recall[0], (space, recall)
        # Mild noise can nudge precision up a little (in the classifier's space by 0.03 at
        # 1,000 samples); it must never rise by more, and must fall once the damage is clear.
        steps = itertools.pairwise(precision)
        assert all(later <= earlier + 0.05 for earlier, later in steps), (space, precision)
        assert precision[-1] < precision[0], (space, precision)


def test_near_copies_lower_recall_and_keep_precision_in_both_spaces(sensitivity):
    for space in SPACES:
        rows = [sensitivity[0], *rows_of(sensitivity, "near-copies")]
        recall = [row[space]["recall"] for row in rows]
        assert recall == sorted(recall, reverse=True) and recall[1] < 0.6 * recall[0], (space, recall)
        assert all(row[space]["precision"] >= rows[0][space]["precision"] - 0.05 for row in rows), space


def test_removed_classes_keep_precision_in_both_spaces(sensitivity):
    for space in SPACES:
        rows = rows_of(sensitivity, "classes removed")
        floor = sensitivity[0][space]["precision"] - 0.05
        assert all(row[space]["precision"] >= floor for row in rows), space


def test_the_sensitivity_table_names_every_row_and_space(sensitivity):
    text = format_sensitivity(sensitivity, list(SPACES))
    assert text.count("\n") == len(sensitivity) + 1 and "encoder: FD" in text and "near-copies" in text
    header, _, first = text.splitlines()[:3]
    fd_end = header.index("encoder: FD") + len("encoder: FD")  # each heading ends where its numbers do
    assert first[:fd_end].endswith(f"{sensitivity[0]['encoder']['FD']:.2f}") and first[fd_end] == " "


def test_the_encoder_sees_more_within_a_class_than_the_classifier(references):
    """The reason for a second space: most of its variance is not the class."""
    test = take_subset(load_fashion_mnist(train=False), 1_000, seed=0)
    shares = {r.space: within_class_share(r.features(test.images), test.labels) for r in references}
    assert shares["encoder"] > shares["classifier"] + 0.2, shares


def test_within_class_share_at_its_two_ends():
    labels = torch.arange(4).repeat_interleave(5)
    only_class = torch.nn.functional.one_hot(labels).double()  # features = the class: nothing within
    assert within_class_share(only_class, labels) == pytest.approx(0.0)
    noise = torch.randn(20, 3, dtype=torch.float64)
    class_free = noise - torch.stack([noise[labels == c].mean(0) for c in range(4)])[labels]
    assert within_class_share(class_free, labels) == pytest.approx(1.0)  # class means all equal


def test_evaluate_reports_both_spaces_from_the_same_samples():
    text = evaluation_report({"dcgan": load_pretrained("dcgan")}, samples=200)
    lines = text.splitlines()
    table = lines[lines.index(next(line for line in lines if line.startswith("model"))):]
    assert "classifier:" in text and "encoder:" in text
    dcgan = next(i for i, line in enumerate(table) if line.startswith("dcgan"))
    assert "classifier" in table[dcgan] and table[dcgan + 1].split()[0] == "encoder"
    encoder_row = table[dcgan + 1].split()  # space, FD, KID ± spread, IS, precision, recall, entropy
    assert encoder_row[5] == "-" and encoder_row[-1] == "-"  # no classes: no IS, no class entropy


def test_contrastive_loss_at_known_similarities():
    a = torch.eye(4)
    assert contrastive_loss(a, a.clone(), temperature=0.01).item() < 1e-6  # each twin found for sure
    same = torch.ones(4, 3)  # every image alike: the twin is one of 2N - 1 equal choices
    assert contrastive_loss(same, same, 0.5).item() == pytest.approx(math.log(7))


def test_augmented_views_keep_the_shape_and_the_black_background():
    images = scale(load_fashion_mnist(train=False).images[:64])
    torch.manual_seed(0)
    views = augment(images)
    assert views.shape == images.shape and views.min() >= -1.001 and views.max() <= 1.001
    assert not torch.allclose(views, images)
    background = torch.full((8, 1, 28, 28), -1.0)  # what comes in from outside the picture is background
    assert torch.allclose(augment(background), background)


@pytest.mark.parametrize("method", ["contrastive", "autoencoder"])
def test_train_encoder_learns_and_a_seed_fixes_it(method, capsys):
    data = take_subset(load_fashion_mnist(train=True), 512, seed=0)
    config = EncoderConfig(method=method, num_epochs=2, batch_size=64, seed=3, device="cpu")
    first, second = train_encoder(config, data, "cpu"), train_encoder(config, data, "cpu")
    losses = [float(line.split()[-1]) for line in capsys.readouterr().out.splitlines()]
    assert losses[1] < losses[0]  # the second epoch's loss is below the first
    pairs = zip(first.state_dict().values(), second.state_dict().values(), strict=True)
    assert all(torch.equal(a, b) for a, b in pairs)


def test_encoder_weights_round_trip_and_a_wrong_file_is_refused(tmp_path):
    model = Encoder("autoencoder").eval()
    torch.save(encoder_state(model, EncoderConfig(method="autoencoder")), tmp_path / "e.pt")
    loaded = load_encoder(tmp_path / "e.pt")
    images = scale(load_fashion_mnist(train=False).images[:8])
    assert torch.equal(loaded.features(images), model.features(images))
    with pytest.raises(ValueError, match="not the encoder"):
        load_encoder(WEIGHTS_DIR / "classifier.pt")


@pytest.mark.parametrize("field, value", [("method", "vae"), ("num_epochs", 0), ("temperature", 0.0)])
def test_encoder_config_refuses_bad_values(field, value):
    with pytest.raises(ValueError, match=f"EncoderConfig.{field}"):
        EncoderConfig(**{field: value})
