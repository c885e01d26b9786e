"""The commands besides ``train`` (``sample``, ``export``, ``evaluate``, ``train-classifier``) and
the resume options, as a hostile user would try them: nothing is lost or silently changed, and
each mistake is one ``error:`` line before any work."""

from __future__ import annotations

import contextlib
import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

from gan_helpers import cli as cli_module
from gan_helpers import files
from gan_helpers.checks import SettingError
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.data import ImageData, check_data_root, load_dataset
from gan_helpers.encoder import EncoderConfig, load_encoder
from gan_helpers.kinds import MODEL_KINDS, build_generator
from gan_helpers.runs import load_run, read_checkpoint, save_checkpoint
from gan_helpers.sampling import generate
from gan_helpers.weights import WEIGHTS_DIR, export_generator
from tests.helpers import tiny_config, tiny_data


@pytest.fixture
def run_dir(cli, tmp_path):
    """A finished one-epoch DCGAN run of the tiny data: its folder."""
    assert cli("train", "dcgan", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    return tmp_path / "q" / "dcgan"


def one_error_line(code: int, err: str, *parts: str, status: int = 2) -> bool:
    return (
        code == status and err.startswith("error: ") and err.count("\n") == 1 and all(p in err for p in parts)
    )


# --- Lost work.


def test_an_output_that_is_the_input_is_refused_and_the_checkpoint_survives(cli, run_dir):
    checkpoint = run_dir / "checkpoint.pt"
    before = checkpoint.read_bytes()
    code, _, err = cli("export", str(checkpoint), str(checkpoint), "--overwrite")
    assert one_error_line(code, err, "is also the input")
    code, _, err = cli("sample", str(checkpoint), "--out", str(checkpoint), "--overwrite")
    assert one_error_line(code, err, "is also the input")
    assert checkpoint.read_bytes() == before
    assert load_run(checkpoint).epoch == 1  # still a training checkpoint that resumes


@pytest.mark.parametrize("out", ["grid.png", "images.pt", "copy.pt"])
def test_an_existing_output_file_is_replaced_only_with_overwrite(cli, run_dir, tmp_path, out):
    target = tmp_path / out
    target.write_bytes(b"a file of the user's")
    command = (
        ["export", str(run_dir / "checkpoint.pt"), str(target)]
        if out == "copy.pt"
        else ["sample", "dcgan", "--count", "4", "--out", str(target)]
    )
    code, _, err = cli(*command)
    assert (
        one_error_line(code, err, "exists; add --overwrite")
        and target.read_bytes() == b"a file of the user's"
    )
    assert cli(*command, "--overwrite")[0] == 0 and target.read_bytes() != b"a file of the user's"


def test_resume_refuses_to_drop_the_weight_average(cli, run_dir):
    checkpoint = run_dir / "checkpoint.pt"
    code, _, err = cli("train", "dcgan", "--resume", str(checkpoint), "--epochs", "2", "--ema-decay", "0")
    assert one_error_line(code, err, "average of the generator's weights", "ema_decay 0 would drop it")
    assert (
        read_checkpoint(checkpoint)["ema"] is not None
        and read_checkpoint(checkpoint)["position"]["epoch"] == 1
    )


# --- Silently wrong results.


def test_seed_and_subset_changes_are_printed_at_an_epoch_end_and_refused_inside_one(cli, run_dir, tmp_path):
    checkpoint = run_dir / "checkpoint.pt"
    code, out, _ = cli("train", "dcgan", "--resume", str(checkpoint), "--epochs", "2", "--seed", "5",
                       "--ema-decay", "0.99", "--run-name", "b")  # fmt: skip
    assert code == 0 and "Resuming with seed 5 (was 0)" in out and "ema_decay 0.99 (was 0.999)" in out
    run = load_run(checkpoint)
    run.batch, run.step = 1, run.step + 1  # as if stopped after one batch of epoch 2
    cut = save_checkpoint(run, tmp_path / "cut" / "run" / "checkpoint.pt")
    for option, value, words in (("--seed", "5", "seed 0"), ("--subset", "0.5", "subset 1.0")):
        code, _, err = cli("train", "dcgan", "--resume", str(cut), "--epochs", "3", option, value)
        assert one_error_line(
            code, err, f"stopped inside epoch 2 with {words}", "would skip or repeat images"
        )


def test_a_zero_learning_rate_is_refused_not_replaced_by_lr(cli, tmp_path):
    code, _, err = cli("train", "dcgan", "--lr-g", "0", "--lr", "1e-3", "--output-dir", str(tmp_path / "q"))
    assert one_error_line(code, err, "--lr-g 0.0: must be a number in (0.0, 1.0]")
    assert not (tmp_path / "q").exists()


def test_unknown_settings_are_refused_naming_the_known_ones(tmp_path):
    run = load_tiny_run(tmp_path)
    path = save_checkpoint(run)
    with pytest.raises(
        ValueError, match=r"unknown setting\(s\) num_epohcs, lr; the settings are model, dataset, num_epochs"
    ):
        load_run(path, num_epohcs=3, lr=0.5)
    with pytest.raises(ValueError, match=r"unknown setting\(s\) epochs"):
        TrainConfig.for_model("dcgan", epochs=3)


def load_tiny_run(tmp_path, **overrides):
    from gan_helpers.runs import new_run

    root = tmp_path / "data"
    tiny_data(root)
    return new_run(tiny_config(root, "mlp", **overrides))


def test_exporting_an_exported_file_keeps_its_averaged_flag(run_dir, tmp_path):
    once = export_generator(run_dir / "checkpoint.pt", tmp_path / "once.pt")
    twice = export_generator(once, tmp_path / "twice.pt")
    assert read_checkpoint(once)["averaged"] is True and read_checkpoint(twice)["averaged"] is True
    plain = load_tiny_run(tmp_path, ema_decay=0.0)  # a run trained without the average
    unaveraged = export_generator(save_checkpoint(plain), tmp_path / "plain.pt")
    assert read_checkpoint(export_generator(unaveraged, tmp_path / "plain2.pt"))["averaged"] is False


def test_evaluate_says_when_the_real_row_has_fewer_images_than_the_samples(monkeypatch, tmp_path, capsys):
    splits = {True: tiny_data(tmp_path / "data"), False: tiny_data(tmp_path / "data", train=False)}
    small_test = ImageData(
        splits[False].images[:20], splits[False].labels[:20], splits[False].class_names, False
    )
    fake = lambda root=None, train=True, **options: splits[True] if train else small_test  # noqa: E731
    monkeypatch.setattr(cli_module, "load_fashion_mnist", fake)
    monkeypatch.setattr("gan_helpers.evaluation.load_fashion_mnist", fake)
    assert cli_module.main(["evaluate", "mlp", "--samples", "25"]) == 0
    out = capsys.readouterr().out
    assert "real (test)*" in out and "* all 20 test images: the test split has no more" in out


def test_image_suffixes_are_read_case_blind_and_unknown_ones_refused(cli, tmp_path):
    from PIL import Image

    for name, image_format in (("x.jpg", "JPEG"), ("X.PNG", "PNG"), ("y.JPEG", "JPEG")):
        assert cli("sample", "dcgan", "--count", "4", "--out", str(tmp_path / name))[0] == 0
        with Image.open(tmp_path / name) as image:
            assert image.format == image_format
    code, _, err = cli("sample", "dcgan", "--out", str(tmp_path / "x.foo"))
    assert one_error_line(code, err, "unknown file type '.foo'", ".png") and not (tmp_path / "x.foo").exists()
    assert cli("sample", "dcgan", "--count", "2", "--out", str(tmp_path / "IMAGES.PT"))[0] == 0
    assert torch.load(tmp_path / "IMAGES.PT", weights_only=True).shape == (2, 1, 28, 28)


def test_a_data_root_that_is_a_file_is_refused_and_a_new_one_is_announced(cli, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    code, _, err = cli(
        "train", "mlp", "--data-root", str(tmp_path / "file"), "--output-dir", str(tmp_path / "q")
    )
    assert one_error_line(code, err, "--data-root", "is a file") and not (tmp_path / "q").exists()
    code, out, _ = cli(
        "train", "mlp", "--data-root", str(tmp_path / "new"), "--output-dir", str(tmp_path / "q")
    )
    assert f"{tmp_path / 'new'} does not exist yet: the data will be put there" in out


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` and its bytes."""
    return {str(path.relative_to(folder)): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_a_folder_of_pictures_as_data_root_is_refused_and_nothing_is_written_into_it(tmp_path):
    pictures = tmp_path / "my_pictures"
    pictures.mkdir()
    for name in ("cat.jpg", "dog.png"):
        Image.new("RGB", (40, 30), "red").save(pictures / name)
    before = snapshot(pictures)
    for call in (
        lambda: main(["train", "dcgan", "--data-root", str(pictures), "--output-dir", str(tmp_path / "q")]),
        lambda: load_dataset("fashion-mnist", pictures),
    ):
        with contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = call()
            except SettingError as error:  # Python: the setting as Python names it
                assert error.setting == "root" and "holds 2 image files (cat.jpg, dog.png)" in str(error)
                continue
        assert one_error_line(code, err.getvalue(), "--data-root", "holds 2 image files", "new or empty")
    assert snapshot(pictures) == before and not (tmp_path / "q").exists()


def test_a_data_root_holding_datasets_or_nothing_is_accepted(tmp_path):
    (tmp_path / "empty").mkdir()
    for root in (tmp_path / "empty", tmp_path / "new"):
        check_data_root("root", root, "fashion-mnist")
    (tmp_path / "shared" / "MNIST" / "raw").mkdir(parents=True)  # another dataset of the same layout
    (tmp_path / "shared" / ".gitkeep").write_text("")
    check_data_root("root", tmp_path / "shared", "fashion-mnist")


def test_refusals_name_the_flag_on_the_command_line_and_the_field_in_python(cli, tmp_path):
    code, _, err = cli("train-encoder", "--epochs", "0", "--output", str(tmp_path / "e.pt"))
    assert one_error_line(code, err, "--epochs 0: must be an integer >= 1") and "EncoderConfig" not in err
    code, _, err = cli("train-classifier", "--batch-size", "0", "--output", str(tmp_path / "c.pt"))
    assert one_error_line(code, err, "--batch-size 0: must be an integer >= 1")
    with pytest.raises(SettingError, match=r"^EncoderConfig\.num_epochs = 0: must be an integer >= 1$"):
        EncoderConfig(num_epochs=0)


def test_the_overwrite_refusal_says_only_the_fix_that_applies(cli, tmp_path):
    output = tmp_path / "dcgan.pt"
    output.write_bytes(b"kept")
    with pytest.raises(ValueError) as raised:
        export_generator(WEIGHTS_DIR / "dcgan.pt", output)
    assert "overwrite=True" in str(raised.value) and "--overwrite" not in str(raised.value)
    code, _, err = cli("export", str(WEIGHTS_DIR / "dcgan.pt"), str(output))
    assert one_error_line(code, err, "add --overwrite") and "overwrite=True" not in err
    assert output.read_bytes() == b"kept"


def test_every_help_that_lists_the_generators_lists_every_kind(capsys):
    for command in ("sample", "evaluate", "invert", "train"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        shown = " ".join(capsys.readouterr().out.split())
        missing = [kind for kind in MODEL_KINDS if kind not in shown]
        assert missing == [], f"{command} --help leaves out {missing}"


# --- Tracebacks turned into one line.


def test_exporting_the_classifier_is_one_line(cli, tmp_path):
    code, _, err = cli("export", str(WEIGHTS_DIR / "classifier.pt"), str(tmp_path / "out.pt"))
    assert one_error_line(code, err, "holds the metrics' classifier, not a generator")
    assert not (tmp_path / "out.pt").exists()


def test_a_full_disk_while_saving_keeps_the_old_checkpoint_and_exits_1(cli, run_dir, monkeypatch):
    checkpoint = run_dir / "checkpoint.pt"
    before = checkpoint.read_bytes()

    class Usage:
        free = 1000  # bytes: less than any checkpoint

    monkeypatch.setattr(files.shutil, "disk_usage", lambda path: Usage)
    code, _, err = cli("train", "dcgan", "--resume", str(checkpoint), "--epochs", "2")
    assert one_error_line(code, err, f"cannot write {checkpoint}: the disk is full", "MB needed", status=1)
    assert "previous checkpoint.pt is kept" in err and checkpoint.read_bytes() == before
    assert not list(run_dir.glob("*.tmp"))


def test_a_full_disk_found_while_writing_is_the_same_one_line(tmp_path):
    def write(file):
        file.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(files.DiskFullError, match=r"cannot write .*out\.bin: the disk is full"):
        files.atomic_write(tmp_path / "out.bin", write)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_the_command_starts_is_one_line():
    process = subprocess.Popen(
        [sys.executable, "-m", "gan_helpers", "evaluate", "mlp"], stderr=subprocess.PIPE, text=True,
        # As in a terminal: a shell's background job inherits Ctrl-C ignored, and would never see it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    time.sleep(1.0)  # inside `import torch`, which takes longer than this
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and err == "error: interrupted (Ctrl-C)\n", err


# --- Messages and late checks.


def test_messages_name_flags_ranges_and_choices(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    for args, message in [
        (["train", "mlp", "--epochs", "0"], "--epochs 0: must be an integer from 1"),
        (["sample", "dcgan", "--seed", str(2**70), "--out", str(tmp_path / "a.png")],
         "--seed 1180591620717411303424: must be an integer from 0 to 2147483647"),
        (["sample", "cgan", "--class", "²", "--out", str(tmp_path / "a.png")], "choose a number from 0 to 9"),
        (["sample", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "a.png")],
         "is not a readable PyTorch checkpoint"),
    ]:  # fmt: skip
        code, _, err = cli(*args)
        assert one_error_line(code, err, message), (args, err)
        assert "weights_only" not in err and "Overflow" not in err


def test_a_subset_smaller_than_one_batch_says_so_and_leaves_no_folder(cli, tmp_path):
    code, _, err = cli(
        "train", "mlp", "--subset", "0.1", "--batch-size", "8", "--output-dir", str(tmp_path / "q")
    )
    assert one_error_line(code, err, "keeps 3 training images, fewer than one batch of 8", "--subset")
    assert not (tmp_path / "q").exists()


def test_evaluate_checks_every_generator_before_any_work(cli, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("evaluation started before every argument was checked")

    monkeypatch.setattr(cli_module, "evaluation_report", no_work)
    code, _, err = cli("evaluate", "mlp", "nosuchmodel")
    assert one_error_line(code, err, "no checkpoint at nosuchmodel", "mlp, dcgan, wgan-gp, cgan")


@pytest.mark.parametrize("command, trainer", [("train-classifier", "train_classifier"),
                                               ("train-encoder", "train_encoder")])  # fmt: skip
def test_the_feature_networks_commands_check_their_output_before_training(cli, monkeypatch, tmp_path,
                                                                          command, trainer):  # fmt: skip
    monkeypatch.setattr(cli_module, trainer, lambda *a: pytest.fail("trained before the check"))
    code, _, err = cli(command, "--output", str(tmp_path))
    assert one_error_line(code, err, "is a folder")
    (tmp_path / "c.pt").write_bytes(b"earlier weights")
    code, _, err = cli(command, "--output", str(tmp_path / "c.pt"))
    assert one_error_line(code, err, "exists; add --overwrite")
    assert (tmp_path / "c.pt").read_bytes() == b"earlier weights"


def test_train_encoder_saves_what_it_trained(cli, monkeypatch, tmp_path):
    from gan_helpers.encoder import Encoder

    trained = Encoder("autoencoder").eval()
    monkeypatch.setattr(cli_module, "load_fashion_mnist", lambda train: None)  # no data needed
    monkeypatch.setattr(cli_module, "train_encoder", lambda config, data, device: trained)
    code, out, _ = cli("train-encoder", "--method", "autoencoder", "--output", str(tmp_path / "e.pt"))
    loaded = load_encoder(tmp_path / "e.pt")
    assert code == 0 and "saved" in out and loaded.method == "autoencoder"
    saved, kept = trained.features.state_dict(), loaded.features.state_dict()
    assert all(torch.equal(saved[key], kept[key]) for key in saved)


def test_generate_refuses_fractional_counts_and_labels():
    generator = build_generator("cgan")
    with pytest.raises(ValueError, match=r"count = 2\.5: must be an integer >= 1"):
        generate(generator, 2.5)
    with pytest.raises(ValueError, match="labels must be whole class numbers"):
        generate(generator, 2, labels=torch.tensor([1.7, 2.2]))
    with pytest.raises(ValueError, match="seed = -1"):
        generate(generator, 2, seed=-1)


def test_a_device_name_is_checked_when_it_is_set():
    with pytest.raises(ValueError, match="device = 'cuda:abc': not a device name"):
        TrainConfig(device="cuda:abc")
    config = TrainConfig()
    with pytest.raises(ValueError, match="not a device name"):
        config.device = "cpu:x"
    assert config.device == "auto"


# --- invert.


def test_invert_writes_the_reconstruction_its_latent_vector_and_the_error(cli, tmp_path):
    photo = tmp_path / "shirt.jpg"
    Image.new("RGB", (90, 120), "white").save(photo)  # a light background: turned dark like the data
    result = tmp_path / "result.png"
    code, out, err = cli("invert", str(photo), "--out", str(result), "--steps", "20", "--starts", "1")
    assert code == 0 and err == "", err
    assert "colours inverted" in out and "pixel error" in out
    with Image.open(tmp_path / "result.png") as written:
        assert written.size == (28, 28)
    saved = torch.load(tmp_path / "result.pt", weights_only=True)
    assert saved["z"].shape == (1, 100) and saved["model"] == "dcgan" and saved["label"] is None


def test_invert_checks_everything_before_work_and_overwrites_nothing(cli, tmp_path):
    photo, notes = tmp_path / "shirt.png", tmp_path / "notes.png"
    Image.new("L", (28, 28), 0).save(photo)
    notes.write_text("not an image")
    kept = tmp_path / "kept.png"
    kept.write_bytes(b"an earlier result")
    for args, message in [
        ([str(notes), "--out", str(tmp_path / "a.png")], "notes.png is not an image file"),
        ([str(tmp_path / "none.png"), "--out", str(tmp_path / "a.png")], "no image file at"),
        ([str(tmp_path), "--out", str(tmp_path / "a.png")], "is a folder; give one image file in it"),
        ([str(photo), "--out", str(tmp_path / "a.pt")], "--out"),
        ([str(photo), "--out", str(kept)], "exists; add --overwrite"),
        ([str(photo), "--out", str(photo)], "is also the input"),
        ([str(photo), "--out", str(tmp_path / "a.png"), "--steps", "0"], "--steps 0: must be an integer"),
        ([str(photo), "--out", str(tmp_path / "a.png"), "--model", "nosuch.pt"], "no checkpoint at"),
    ]:  # fmt: skip
        code, _, err = cli("invert", *args)
        assert one_error_line(code, err, message), (args, err)
    assert kept.read_bytes() == b"an earlier result" and not (tmp_path / "a.png").exists()
    assert not list(tmp_path.glob("*.pt"))
