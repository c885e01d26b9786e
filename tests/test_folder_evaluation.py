"""Chapter 10: measuring a generator against a folder of one's own images, without labels: the
held-out tenth, an encoder trained on the folder, ``train-encoder``/``evaluate --data-dir``.
Pictures are drawn with PIL in a temporary folder; nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_helpers import encoder as encoder_module
from gan_helpers import image_folder
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.encoder import (
    Encoder,
    EncoderConfig,
    encoder_for_folder,
    encoder_from_state,
    encoder_state,
    folder_config,
    train_encoder,
)
from gan_helpers.image_folder import HELD_OUT, held_out, load_image_folder
from gan_helpers.training import train
from gan_helpers.weights import WEIGHTS_DIR


def blobs(root: Path, count: int, start: int = 0) -> Path:
    """``count`` colour PNGs of 40x40: a bright square at a random place on a dark colour that
    says the picture's number (red = number, green = 0), so an image can be told by its pixels."""
    root.mkdir(parents=True, exist_ok=True)
    for number in range(start, start + count):
        rng = np.random.default_rng(number)
        picture = np.tile(np.array([number, 0, 60], dtype=np.uint8), (40, 40, 1))
        top, left = rng.integers(8, 17, 2)
        picture[top : top + 15, left : left + 15] = rng.integers(150, 256, 3, dtype=np.uint8)
        Image.fromarray(picture).save(root / f"blob{number:04d}.png")
    return root


def numbers_of(images: torch.Tensor) -> set[int]:
    """The picture numbers ``blobs`` wrote into each image's corner."""
    return set(images[:, 0, 0, 0].tolist())


def test_one_picture_in_ten_is_held_out_by_its_name_alone(tmp_path, capsys):
    root = blobs(tmp_path / "mine", 60)
    folder = load_image_folder(root, cache_root=tmp_path / "data")
    training, held = folder.part(held=False), folder.part(held=True)
    assert len(training) + len(held) == 60 and 0 < len(held) < 60 / HELD_OUT * 2.5
    chosen = {int(name[4:8]) for name in folder.names if held_out(name)}
    assert numbers_of(held.images) == chosen and numbers_of(training.images) == set(range(60)) - chosen
    assert not held.train and training.train
    blobs(root, 40, start=60)  # more pictures: none of the first ones moves across
    grown = load_image_folder(root, cache_root=tmp_path / "data")
    assert numbers_of(grown.part(held=True).images) & set(range(60)) == chosen
    cached = load_image_folder(root, cache_root=tmp_path / "data")  # the cache keeps the names
    assert cached.cached and torch.equal(cached.part(held=True).images, grown.part(held=True).images)
    places = {"data_root": str(tmp_path / "data"), "output_dir": str(tmp_path / "runs"), "device": "cpu"}
    config = TrainConfig.for_model("dcgan", data_dir=str(root), num_epochs=1, batch_size=16, **places)
    run = train(config, progress=False)
    held_count = len(grown.part(held=True))
    assert f"Training on {100 - held_count} images of" in capsys.readouterr().out
    assert run.step == (100 - held_count) // 16  # the held-out pictures are never trained on


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 64, 64)])
def test_the_encoder_builds_for_each_image_shape_and_its_file_keeps_the_shape(shape):
    images = torch.rand(8, *shape) * 2 - 1
    from gan_helpers.data import ImageData

    data = ImageData((images * 127.5 + 127.5).to(torch.uint8), torch.zeros(8, dtype=torch.long), (), True)
    model = train_encoder(EncoderConfig(num_epochs=1, batch_size=4), data, "cpu")
    loaded = encoder_from_state(encoder_state(model, EncoderConfig()))
    assert loaded.image_shape == shape
    assert torch.equal(loaded.features(images), model.features(images))
    assert loaded.features(images).shape == (8, 128)


def test_the_fashion_encoder_is_built_as_before():
    """The shipped encoder's layers for 1x28x28: three convolutions 32, 64, 128 (the last 3x3)."""
    convolutions = [m for m in Encoder().features if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0]) for c in convolutions] == [
        (1, 32, 4), (32, 64, 4), (64, 128, 3)
    ]  # fmt: skip
    with pytest.raises(ValueError, match="autoencoder is built for 1x28x28 images, not 3x32x32"):
        Encoder("autoencoder", image_shape=(3, 32, 32))


def test_a_folders_encoder_learns_enough_batches_however_few_the_images():
    steps = encoder_module.FOLDER_STEPS
    for count, batch in ((180, 90), (20_000, 128)):
        config = folder_config(count)
        per_epoch = count // config.batch_size
        assert config.batch_size == batch
        assert config.num_epochs * per_epoch >= steps > (config.num_epochs - 1) * per_epoch  # just enough
    with pytest.raises(ValueError, match="3 training images: a folder's encoder needs at least 4"):
        folder_config(3)


def test_the_folders_encoder_is_trained_on_first_use_then_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(encoder_module, "FOLDER_STEPS", 4)
    folder = load_image_folder(blobs(tmp_path / "mine", 40), cache_root=tmp_path / "data")
    first = encoder_for_folder(folder)
    assert "Training the label-free encoder on the" in capsys.readouterr().out
    path = folder.place / "encoder-3x32x32.pt"
    assert path.is_file()
    again = encoder_for_folder(folder)
    assert capsys.readouterr().out == ""  # loaded, not trained again
    images = torch.rand(4, 3, 32, 32) * 2 - 1
    assert torch.equal(first.features(images), again.features(images))


def test_evaluate_on_a_folder_measures_against_its_held_out_images(tmp_path, capsys):
    root, data = blobs(tmp_path / "mine", 230), str(tmp_path / "data")
    common = ["--data-root", data, "--output-dir", str(tmp_path / "runs"), "--quiet", "--device", "cpu"]
    assert main(["train", "dcgan", "--data-dir", str(root), "--epochs", "1", "--run-name", "m", *common]) == 0
    encoder = tmp_path / "encoder.pt"
    args = ["--data-dir", str(root), "--data-root", data]
    assert main(["train-encoder", *args, "--epochs", "2", "--output", str(encoder)]) == 0
    assert encoder.is_file()
    capsys.readouterr()
    checkpoint = str(tmp_path / "runs" / "m" / "checkpoint.pt")
    assert main(["evaluate", checkpoint, *args, "--encoder", str(encoder)]) == 0
    table = capsys.readouterr().out
    held = len(load_image_folder(root, cache_root=data).part(held=True))
    assert f"{held} samples per row (noise seed 0) and the {held} held-out images of" in table
    rows = {row.split()[0]: row.split() for row in table.splitlines() if row.startswith(("real", checkpoint))}
    assert set(rows) == {"real", checkpoint}
    floor, generated = float(rows["real"][3]), float(rows[checkpoint][1])
    assert 0 <= floor < generated  # one epoch of training is far from the held-out pictures
    shipped = WEIGHTS_DIR / "encoder.pt"  # Fashion-MNIST's
    refusals = [  # what cannot be measured together, each before the folder is read again
        (["evaluate", checkpoint, "dcgan", *args], "make images of 1x28x28 and 3x32x32: evaluate one shape"),
        (["evaluate", checkpoint, *args, "--encoder", str(shipped)], "encoder.pt reads 1x28x28 images"),
        (["evaluate", checkpoint, *args, "--seed", "-1"], "--seed -1"),
    ]
    for arguments, message in refusals:
        assert main(arguments) == 2 and message in capsys.readouterr().err, arguments


def test_evaluate_and_train_encoder_refuse_bad_folder_options_in_one_line(tmp_path, capsys):
    few, out, data = blobs(tmp_path / "few", 40), tmp_path / "e", tmp_path / "data"
    cases = [
        (["evaluate", "dcgan", "--encoder", "x.pt"], "--encoder goes with --data-dir"),
        (["evaluate", "dcgan", "--data-dir", str(few), "--samples", "50"], "--samples: with --data-dir"),
        (["evaluate", "dcgan", "--data-dir", str(few), "--inception"], "--inception: with --data-dir"),
        (["evaluate", "dcgan", "--data-dir", str(tmp_path / "nowhere")], "no such folder"),
        (["train-encoder", "--image-size", "32"], "--image-size goes with --data-dir"),
        (["train-encoder", "--data-dir", str(few), "--method", "autoencoder"], "use --method contrastive"),
        (["train-encoder", "--data-dir", str(few), "--epochs", "0"], "--epochs 0"),
        (["train-encoder", "--data-dir", str(few), "--seed", "-1"], "--seed -1"),
    ]
    for args, message in cases:
        code = main([*args, "--data-root", str(data)] if "--data-dir" in args else args)
        err = capsys.readouterr().err
        assert code == 2 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1, err
    assert not out.exists() and not data.exists()  # refused before the folder was read
    assert main(["evaluate", "dcgan", "--data-dir", str(few), "--data-root", str(data)]) == 2
    assert "a measurement needs at least 20: add images" in capsys.readouterr().err


def test_a_run_split_another_way_does_not_pass_for_the_same_data(monkeypatch):
    files = [("a.png", 10, 1), ("b.png", 20, 2)]
    split_in_ten = image_folder.list_hash(files)  # modification times do not count:
    assert image_folder.list_hash([(name, size, 99) for name, size, _ in files]) == split_in_ten
    monkeypatch.setattr(image_folder, "HELD_OUT", 5)
    assert image_folder.list_hash(files) != split_in_ten
