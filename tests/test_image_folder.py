"""Chapter 10: a folder of one's own images as training data. Pictures are drawn with PIL in a
temporary folder; nothing is downloaded."""

from __future__ import annotations

import shutil
from functools import partial
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_helpers import image_folder, speed
from gan_helpers.checks import SettingError
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.data import scale
from gan_helpers.image_folder import load_image_folder
from gan_helpers.kinds import MODEL_KINDS
from gan_helpers.runs import load_run, new_run
from gan_helpers.training import train
from gan_helpers.weights import load_generator


def draw(path: Path, size: tuple[int, int], colour: bool = True, seed: int = 0, suffix: str = ".png") -> Path:
    """A random picture of ``size`` (width, height), in colour or grey, saved as ``path`` + suffix."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if colour else (size[1], size[0])
    path = path.with_suffix(suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return path


def two_classes(root: Path, per_class: int = 6, colour: bool = True) -> Path:
    """``root/cats`` and ``root/dogs/small`` (nested) with pictures of mixed sizes and formats."""
    for number in range(per_class):
        draw(root / "cats" / f"cat{number}", (40 + number, 30), colour, seed=number, suffix=".jpg")
        draw(root / "dogs" / "small" / f"dog{number}", (30, 50), colour, seed=100 + number)
    return root


def test_subfolders_become_classes_and_every_picture_a_square(tmp_path):
    folder = load_image_folder(two_classes(tmp_path / "pets"), image_size=28)
    assert folder.data.class_names == ("cats", "dogs")
    assert folder.data.images.shape == (12, 3, 28, 28) and folder.data.images.dtype == torch.uint8
    assert folder.data.labels.tolist() == [0] * 6 + [1] * 6
    assert folder.record["files"] == 12 and folder.skipped_line() == ""


def test_a_flat_folder_is_unlabelled_and_grey_pictures_give_one_channel(tmp_path):
    for number in range(4):
        draw(tmp_path / "flat" / f"p{number}", (64, 64), colour=False, seed=number)
    folder = load_image_folder(tmp_path / "flat", image_size=32)
    assert not folder.labelled and folder.data.images.shape == (4, 1, 32, 32)
    assert folder.data.labels.tolist() == [0, 0, 0, 0]


def test_one_colour_picture_makes_the_folder_colour_and_grey_is_pils_own(tmp_path):
    draw(tmp_path / "mixed" / "grey", (32, 32), colour=False)
    colour = draw(tmp_path / "mixed" / "colour", (32, 32), colour=True, seed=5)
    assert load_image_folder(tmp_path / "mixed").data.images.shape[1] == 3
    grey = load_image_folder(tmp_path / "mixed", channels=1).data.images
    expected = np.array(Image.open(colour).convert("L"))  # 32x32 already: no resizing
    assert torch.equal(grey[0, 0], torch.from_numpy(expected))  # "colour" sorts before "grey"


def test_the_centre_square_is_kept(tmp_path):
    picture = np.zeros((28, 84, 3), np.uint8)  # a wide picture: black, white centre third, black
    picture[:, 28:56] = 255
    (tmp_path / "wide").mkdir()
    Image.fromarray(picture).save(tmp_path / "wide" / "a.png")
    images = load_image_folder(tmp_path / "wide", image_size=28).data.images
    assert images.min() == 255  # only the white centre square is left


def test_bad_files_are_skipped_and_counted_in_one_line_with_a_report(tmp_path):
    root = two_classes(tmp_path / "pets", per_class=3)
    (root / "cats" / "notes.txt").write_text("not a picture")
    whole = (root / "cats" / "cat0.jpg").read_bytes()
    (root / "cats" / "cut.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "cats" / ".DS_Store").write_bytes(b"\0")  # hidden: not the user's data, not counted
    folder = load_image_folder(root, cache_root=tmp_path / "data")
    line = folder.skipped_line()
    assert line.startswith("skipped 2 of 8 files: 1 not an image, 1 truncated — see ")
    report = folder.report.read_text()
    assert "not an image: cats/notes.txt" in report and "truncated: cats/cut.jpg" in report
    assert len(folder.data) == 6 and not (root / "data-report.txt").exists()  # nothing in the user's folder


def test_the_cache_is_used_then_rebuilt_when_the_folder_changes(tmp_path, monkeypatch):
    root, cache = two_classes(tmp_path / "pets", per_class=2), tmp_path / "data"
    first = load_image_folder(root, cache_root=cache)
    assert not first.cached and list((cache / "folders").iterdir())
    before = set(root.rglob("*"))

    def no_decoding(*args):
        raise AssertionError("a cached folder was decoded again")

    monkeypatch.setattr(image_folder, "read_picture", no_decoding)
    again = load_image_folder(root, cache_root=cache, channels=1)  # channels need no second decode
    assert again.cached and torch.equal(again.data.labels, first.data.labels)
    assert again.data.images.shape[1] == 1 and set(root.rglob("*")) == before  # the user's folder untouched
    monkeypatch.undo()
    draw(root / "cats" / "new", (40, 40), seed=9)
    changed = load_image_folder(root, cache_root=cache)
    assert not changed.cached and len(changed.data) == 5


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda root: None, "no such folder"),
        (lambda root: root.write_text("x"), "is a file, not a folder"),
        (lambda root: root.mkdir(), "holds no files"),
        (lambda root: (root.mkdir(), (root / "a.txt").write_text("x")), "none of its 1 files is a picture"),
    ],
)
def test_a_folder_with_nothing_to_train_on_is_one_line(tmp_path, setup, message):
    root = tmp_path / "mine"
    setup(root)
    with pytest.raises(SettingError, match=message) as refused:
        load_image_folder(root)
    assert "\n" not in str(refused.value)


def folder_config(root: Path, tmp_path: Path, model: str = "dcgan", **overrides) -> TrainConfig:
    values = dict(data_dir=str(root), num_epochs=1, batch_size=4, device="cpu", log_every=1, seed=1,
                  data_root=str(tmp_path / "data"), output_dir=str(tmp_path / "runs"))  # fmt: skip
    return TrainConfig.for_model(model, **{**values, **overrides})


@pytest.mark.parametrize("model", MODEL_KINDS)
@pytest.mark.parametrize(("size", "channels"), [(28, 1), (32, 3), (64, 3), (64, 1)])
def test_every_kind_builds_for_the_folders_images_and_takes_a_step(tmp_path, model, size, channels):
    root = two_classes(tmp_path / "pets", per_class=2)
    run = new_run(folder_config(root, tmp_path, model, image_size=size, channels=channels))
    assert run.config.image_shape == (channels, size, size)
    data = load_image_folder(root, size, channels, tmp_path / "data").data
    real = scale(data.images)
    metrics = run.config.kind.step(run, real, data.labels)
    assert all(torch.isfinite(value) for value in metrics.values())
    with torch.no_grad():
        noise = torch.randn(2, run.config.latent_dim)
        fake = run.generator(noise, data.labels[:2]) if run.config.kind.conditional else run.generator(noise)
    assert fake.shape == (2, channels, size, size)


def test_a_run_on_a_folder_trains_samples_exports_and_records_its_data(tmp_path, capsys):
    root = two_classes(tmp_path / "pets", per_class=4)
    (root / "cats" / "notes.txt").write_text("x")
    run = train(folder_config(root, tmp_path, "sngan", augment="diff"), progress=False)
    out = capsys.readouterr().out
    assert "Training on 7 images of" in out and "(1 more held out for evaluate)" in out
    assert "32x32, colour, 2 classes (cats, dogs)" in out
    assert "skipped 1 of 9 files: 1 not an image" in out
    generator = load_generator(run.checkpoint_path)
    assert generator(torch.randn(3, 100)).shape == (3, 3, 32, 32)
    state = torch.load(run.checkpoint_path, weights_only=True)
    assert state["data"]["files"] == 8 and state["data"]["path"] == str(root.resolve())
    assert tuple(state["config"]["folder_classes"]) == ("cats", "dogs")
    grid = tmp_path / "grid.png"
    assert main(["sample", str(run.checkpoint_path), "--count", "4", "--out", str(grid)]) == 0
    assert Image.open(grid).mode == "RGB"  # the colour kept
    code = main(["invert", str(grid), "--model", str(run.checkpoint_path), "--out", str(tmp_path / "x.png")])
    assert code == 2 and "draws 32x32 colour images; invert works with" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_resume_refuses_other_images_and_follows_a_moved_folder(tmp_path):
    root = two_classes(tmp_path / "pets", per_class=4)
    run = train(folder_config(root, tmp_path), progress=False)
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    assert load_run(run.checkpoint_path, num_epochs=2, data_dir=str(moved)).epoch == 1  # same files
    draw(root / "cats" / "extra", (40, 40), seed=7)
    with pytest.raises(ValueError, match=r"trained on 8 images of .*other images \(9 images of"):
        load_run(run.checkpoint_path, num_epochs=2)


def test_the_command_line_refuses_in_one_line_before_anything_is_written(tmp_path, capsys):
    root = two_classes(tmp_path / "pets", per_class=2)
    flat = tmp_path / "flat"
    for number in range(4):
        draw(flat / f"p{number}", (30, 30), seed=number)
    runs = tmp_path / "runs"
    cases = [
        (["train", "dcgan", "--data-dir", str(tmp_path / "nowhere")], "--data-dir"),
        (["train", "cgan", "--data-dir", str(flat)], "needs classes"),
        (["train", "dcgan", "--data-dir", str(root), "--batch-size", "32"], "fewer than one batch of 32"),
        (["train", "dcgan", "--data-dir", str(root), "--dataset", "mnist"], "--dataset mnist"),
        (["train", "dcgan", "--image-size", "32"], "--image-size 32: Fashion-MNIST is 28x28 grey"),
        (["train", "wgan-gp", "--data-dir", str(root), "--augment", "adaptive"], "use augment='diff'"),
    ]
    for args, message in cases:
        code = main([*args, "--output-dir", str(runs), "--quiet", "--data-root", str(tmp_path / "data")])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not runs.exists()


def test_a_generator_trained_on_a_folder_samples_after_the_folder_is_gone(tmp_path):
    root = two_classes(tmp_path / "pets", per_class=4)
    run = train(folder_config(root, tmp_path, "dcgan"), progress=False)
    shutil.rmtree(root)
    assert load_generator(run.checkpoint_path)(torch.randn(2, 100)).shape == (2, 3, 32, 32)
    with pytest.raises(SettingError, match="no such folder"):
        load_run(run.checkpoint_path, num_epochs=2)  # training on needs the images


def test_a_large_folder_read_by_worker_processes_gives_the_same_pictures(tmp_path, monkeypatch):
    root = two_classes(tmp_path / "pets", per_class=5)
    (root / "cats" / "notes.txt").write_text("x")
    one_process = load_image_folder(root)
    in_workers = partial(speed.map_in_processes, chunk=3, minimum=1)  # as a folder of thousands is read
    monkeypatch.setattr(image_folder, "map_in_processes", in_workers)
    many = load_image_folder(root)
    assert torch.equal(many.data.images, one_process.data.images) and many.skipped == one_process.skipped
