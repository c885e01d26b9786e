"""User mistakes: each is refused in one line before any work, and nothing is lost, mixed or
silently changed. Mostly through the command line, as a user would meet them."""

from __future__ import annotations

import fcntl
import json
import math

import numpy as np
import pytest
import torch

from gan_helpers import data, training
from gan_helpers.config import TrainConfig
from gan_helpers.images import save_grid
from gan_helpers.runs import load_run, read_checkpoint, save_checkpoint
from gan_helpers.training import LOSS_BOUND, TrainingDivergedError, record, train
from gan_helpers.weights import export_generator
from tests.helpers import dropout_rates, tiny_config, tiny_data, tiny_spec, write_fake_dataset, write_idx


def files(folder) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir()) if path.name != ".lock"}


def optimizer_lrs(path) -> list[float]:
    state = read_checkpoint(path)
    return [group["lr"] for key in ("opt_g", "opt_d") for group in state[key]["param_groups"]]


def test_resume_applies_new_learning_rates_and_betas_and_says_so(cli, tmp_path):
    out = str(tmp_path / "q")
    assert cli("train", "dcgan", "--epochs", "1", "--output-dir", out, "--run-name", "a")[0] == 0
    code, stdout, _ = cli("train", "dcgan", "--resume", f"{out}/a/checkpoint.pt", "--epochs", "2",
                          "--lr", "0.001", "--betas", "0.4", "0.95", "--run-name", "b")  # fmt: skip
    assert code == 0
    assert "Resuming with lr_g 0.001 (was 0.0004)" in stdout and "betas (0.4, 0.95)" in stdout
    checkpoint = tmp_path / "q" / "b" / "checkpoint.pt"
    assert optimizer_lrs(checkpoint) == [0.001, 0.001]  # what the optimizers used, not only the config
    betas = read_checkpoint(checkpoint)["opt_d"]["param_groups"][0]["betas"]
    assert tuple(betas) == (0.4, 0.95) and read_checkpoint(checkpoint)["config"]["lr_g"] == 0.001
    same = load_run(tmp_path / "q" / "a" / "checkpoint.pt", num_epochs=2, output_dir=str(tmp_path / "c"))
    assert [g["lr"] for g in same.opt_g.param_groups] == [0.0004] and same.changes == ["num_epochs 2 (was 1)"]


def test_a_new_run_never_replaces_a_run_already_in_the_folder(cli, tmp_path):
    out = ["--output-dir", str(tmp_path / "q"), "--run-name", "a"]
    assert cli("train", "mlp", "--epochs", "2", *out)[0] == 0
    folder = tmp_path / "q" / "a"
    before = files(folder)
    code, _, err = cli("train", "mlp", "--epochs", "1", *out)  # --resume forgotten
    assert code == 2 and err.count("\n") == 1
    assert "already holds a run" in err and "--resume" in err and "--overwrite" in err
    assert files(folder) == before
    code, _, err = cli("train", "mlp", "--subset", "0.5", "--batch-size", "5000", *out[:2], "--run-name", "a")
    assert code == 2 and files(folder) == before  # a start that fails touches nothing
    assert cli("train", "mlp", "--epochs", "1", "--overwrite", *out)[0] == 0
    assert "epoch_002.png" not in files(folder)  # the old run's files went with it
    assert read_checkpoint(folder / "checkpoint.pt")["position"]["epoch"] == 1


def test_a_moved_run_resumes_in_its_new_folder(cli, tmp_path):
    first = cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"), "--run-name", "orig")
    assert first[0] == 0
    (tmp_path / "q" / "orig").rename(tmp_path / "q" / "moved")
    moved = str(tmp_path / "q" / "moved" / "checkpoint.pt")
    assert cli("train", "mlp", "--epochs", "2", "--resume", moved)[0] == 0
    assert not (tmp_path / "q" / "orig").exists()
    assert read_checkpoint(tmp_path / "q" / "moved" / "checkpoint.pt")["position"]["epoch"] == 2
    assert "epoch_002.png" in files(tmp_path / "q" / "moved")


def test_a_second_training_in_a_locked_folder_is_refused_naming_the_first(cli, tmp_path):
    folder = tmp_path / "q" / "a"
    folder.mkdir(parents=True)
    with open(folder / ".lock", "a+") as lock:  # what a training in another process holds
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        lock.write("process 4242")
        lock.flush()
        code, _, err = cli("train", "mlp", "--output-dir", str(tmp_path / "q"), "--run-name", "a")
    assert code == 2 and "in use by another training (process 4242)" in err
    assert files(folder) == {}


def test_pngs_and_history_are_written_atomically(tmp_path, monkeypatch):
    path = save_grid(torch.zeros(4, 1, 28, 28), tmp_path / "epoch_001.png")
    before = path.read_bytes()

    def broken(grid, file, format=None):
        file.write(b"half a png")
        raise OSError("disk full")

    monkeypatch.setattr("gan_helpers.images.save_image", broken)
    with pytest.raises(OSError, match="disk full"):
        save_grid(torch.ones(4, 1, 28, 28), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["epoch_001.png"]


@pytest.mark.parametrize("where", ["a file", "under /proc"])
def test_an_unwritable_output_dir_is_refused_before_training(cli, tmp_path, where):
    target = tmp_path / "file.txt"
    target.write_text("not a folder")
    output = str(target) if where == "a file" else "/proc/fashion-gan-test"
    code, stdout, err = cli("train", "mlp", "--output-dir", output)
    assert code == 2 and err.startswith("error: cannot write the run into") and err.count("\n") == 1
    assert "--output-dir" in err and "Done" not in stdout


def test_export_into_a_folder_is_refused(cli, tmp_path):
    assert cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    code, _, err = cli("export", str(tmp_path / "q" / "mlp" / "checkpoint.pt"), str(tmp_path))
    assert code == 2 and "is a folder; give the file to write" in err


def test_a_read_only_data_root_reads_the_system_copy_in_place(tmp_path, system_copy):
    (tmp_path / "blocker").write_text("a file where the data root's folders would go")
    root = tmp_path / "blocker" / "data"  # cannot be created: like a read-only mount
    split = data.load_dataset(tiny_spec(), root, train=True, system_dir=system_copy, download=False)
    assert len(split) == 30 and not root.exists()


@pytest.mark.parametrize("shipped", ["dcgan.pt", "classifier.pt"])
def test_resuming_an_exported_file_says_what_it_is(cli, shipped):
    from gan_helpers.weights import WEIGHTS_DIR

    code, _, err = cli("train", "dcgan", "--resume", str(WEIGHTS_DIR / shipped))
    assert code == 2 and err.count("\n") == 1 and "not a training checkpoint" in err
    assert ("exported 'dcgan' generator" if shipped == "dcgan.pt" else "classifier") in err


def test_batch_size_one_is_refused_by_the_config(cli):
    code, _, err = cli("train", "dcgan", "--batch-size", "1")
    # The command line's flag, not the config's field name
    assert code == 2 and err == "error: --batch-size 1: must be an integer from 2 to 60000\n"


def test_a_batch_size_change_mid_epoch_is_refused(tmp_path):
    root = tmp_path / "data"
    run = new_tiny_run(root)
    run.batch, run.step = 1, 1  # stopped after the first batch of an epoch
    path = save_checkpoint(run, tmp_path / "runs" / "cut" / "checkpoint.pt")
    with pytest.raises(ValueError, match="stopped inside epoch 1 with batch size 8; resuming it with 16"):
        load_run(path, batch_size=16)
    run.batch = 0
    assert load_run(save_checkpoint(run, path), batch_size=16).config.batch_size == 16  # at an epoch end


def new_tiny_run(root, **overrides):
    from gan_helpers.runs import new_run

    tiny_data(root)
    return new_run(tiny_config(root, "mlp", **overrides))


def test_resuming_a_finished_run_says_to_raise_epochs(cli, tmp_path):
    assert cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    code, _, err = cli("train", "mlp", "--resume", str(tmp_path / "q" / "mlp" / "checkpoint.pt"))
    assert code == 2 and "already trained 1 of 1 epochs; pass a larger --epochs" in err


def test_ctrl_c_exits_non_zero_with_the_resume_command(cli, tmp_path, monkeypatch):
    def stop_at_once(self):
        self.requested = True  # as if Ctrl-C came during the first batch
        return self

    monkeypatch.setattr(training.StopRequest, "__enter__", stop_at_once)
    code, stdout, err = cli("train", "mlp", "--output-dir", str(tmp_path / "q"))
    checkpoint = tmp_path / "q" / "mlp" / "checkpoint.pt"
    assert code == 130 and "Done" not in stdout
    assert f"python -m gan_helpers train mlp --resume {checkpoint}" in err
    assert read_checkpoint(checkpoint)["position"]["step"] == 1


def test_dropout_is_an_option_of_the_command_line(cli, tmp_path):
    out = tmp_path / "q"
    assert cli("train", "dcgan", "--epochs", "1", "--dropout", "0.25", "--output-dir", str(out))[0] == 0
    run = load_run(out / "dcgan" / "checkpoint.pt")
    rates = set(dropout_rates(run.discriminator))
    assert read_checkpoint(out / "dcgan" / "checkpoint.pt")["config"]["dropout"] == 0.25 and rates == {0.25}
    code, stdout, _ = cli("train", "dcgan", "--resume", str(out / "dcgan" / "checkpoint.pt"), "--epochs", "2",
                          "--dropout", "0.1", "--run-name", "c")  # fmt: skip
    assert code == 0 and "dropout 0.1 (was 0.25)" in stdout  # a resume says what it changes
    code, _, err = cli("train", "dcgan", "--dropout", "1.5", "--output-dir", str(out), "--run-name", "b")
    assert code == 2 and "dropout" in err and err.count("\n") == 1 and not (out / "b").exists()


def test_resume_cannot_change_the_networks_shape(cli, tmp_path):
    assert cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    code, _, err = cli("train", "mlp", "--epochs", "2", "--latent-dim", "64",
                       "--resume", str(tmp_path / "q" / "mlp" / "checkpoint.pt"))  # fmt: skip
    assert code == 2 and "trained with latent_dim = 100; a resumed run cannot change it to 64" in err
    assert "different version" not in err


def test_an_empty_checkpoint_is_named_as_empty(cli, tmp_path):
    (tmp_path / "empty.pt").write_bytes(b"")
    code, _, err = cli("train", "mlp", "--resume", str(tmp_path / "empty.pt"))
    assert code == 2 and "empty.pt is empty (0 bytes)" in err and "()" not in err


def test_a_label_out_of_range_names_the_file_and_the_value(tmp_path):
    raw = write_fake_dataset(tmp_path / "data" / "FashionMNIST" / "raw", gz=False)
    labels = np.repeat(np.arange(10, dtype=np.uint8), 3)
    labels[7] = 12
    write_idx(raw / "train-labels-idx1-ubyte", labels)
    with pytest.raises(ValueError, match=r"labels-idx1-ubyte: label 12 at position 7 is outside 0\.\.9"):
        data.load_dataset(tiny_spec(), tmp_path / "data", system_dir=None, download=False)


def test_a_run_name_that_is_a_path_is_refused(cli, tmp_path):
    code, _, err = cli("train", "mlp", "--run-name", str(tmp_path / "abs"), "--output-dir", str(tmp_path))
    assert code == 2 and "must be a folder name, not a path; put the parent folder in output_dir" in err


def test_a_loss_past_the_bound_stops_training(tmp_path):
    class Averager:
        def pop(self):
            return {"loss_d": 1.0, "loss_g": 8e25}  # lr 1e6 on the MLP GAN: finite, but diverged

    run = new_tiny_run(tmp_path / "data")
    with pytest.raises(TrainingDivergedError, match=r"'loss_g': 8e\+25.*beyond 1e\+06"):
        record(run, Averager(), per_epoch=3)
    assert LOSS_BOUND == 1e6 and math.isfinite(8e25)


def test_config_takes_numpy_integers_and_checks_assignments():
    config = TrainConfig(num_epochs=np.int64(5), lr_g=np.float32(1e-3))
    assert config.num_epochs == 5 and type(config.num_epochs) is int
    with pytest.raises(ValueError, match="num_epochs = -5: must be an integer from 1"):
        config.num_epochs = -5
    assert config.num_epochs == 5  # a refused value leaves the config as it was
    config.num_epochs = 7
    assert config.num_epochs == 7


def test_stale_temporary_files_of_a_killed_save_are_removed_on_the_next_start(tmp_path):
    run = new_tiny_run(tmp_path / "data", num_epochs=1)
    run.run_dir.mkdir(parents=True)
    stale = run.run_dir / "checkpoint.ptab12cd.tmp"  # what kill -9 during atomic_save leaves
    stale.write_bytes(b"half")
    train(run, data=tiny_data(tmp_path / "data"), progress=False)
    assert not stale.exists() and (run.run_dir / "checkpoint.pt").exists()


def test_history_json_is_valid_after_a_run(cli, tmp_path):
    assert cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    history = json.loads((tmp_path / "q" / "mlp" / "history.json").read_text())
    assert history["step"] == [3] and len(history["loss_d"]) == 1  # one entry: the epoch end
    assert not list((tmp_path / "q" / "mlp").glob("*.tmp"))


def test_export_then_resume_round_trip_keeps_messages_short(cli, tmp_path):
    assert cli("train", "mlp", "--epochs", "1", "--output-dir", str(tmp_path / "q"))[0] == 0
    exported = export_generator(tmp_path / "q" / "mlp" / "checkpoint.pt", tmp_path / "g.pt")
    code, _, err = cli("train", "mlp", "--resume", str(exported))
    assert code == 2 and err.count("\n") == 1 and "exported 'mlp' generator" in err


def test_sample_writes_a_grid_a_tensor_or_a_folder_and_refuses_bad_input(cli, tmp_path):
    code, out, _ = cli("sample", "cgan", "--count", "12", "--out", str(tmp_path / "g.png"))
    assert code == 0 and "wrote 12 images" in out and (tmp_path / "g.png").stat().st_size > 0
    sneaker = ["--count", "6", "--class", "Sneaker", "--out", str(tmp_path / "s.pt")]
    assert cli("sample", "cgan", *sneaker)[0] == 0
    sneakers = torch.load(tmp_path / "s.pt", weights_only=True)
    assert sneakers.shape == (6, 1, 28, 28) and sneakers.min() >= -1 and sneakers.max() <= 1
    assert cli("sample", "cgan", "--count", "6", "--class", "7", "--out", str(tmp_path / "n.pt"))[0] == 0
    assert torch.equal(torch.load(tmp_path / "n.pt", weights_only=True), sneakers)  # name or number
    assert cli("sample", "dcgan", "--count", "3", "--out", str(tmp_path / "singles"))[0] == 0
    singles = sorted(p.name for p in (tmp_path / "singles").iterdir())
    assert singles == [f"sample_0000{i}.png" for i in range(3)]
    for args, message in [
        (["dcgan", "--count", "0"], "--count 0: must be an integer from 1 to 100000"),
        (["dcgan", "--class", "Bag"], "not a conditional generator"),
        (["cgan", "--class", "Hat"], "--class 'Hat': choose a number from 0 to 9"),
        (["dcgan", "--out", str(tmp_path / "singles")], "exists; give a new folder"),
        (["gan.pt"], "no checkpoint at gan.pt"),
    ]:
        out = [] if "--out" in args else ["--out", str(tmp_path / "x.png")]
        code, _, err = cli("sample", *args, *out)
        assert code == 2 and message in err and err.count("\n") == 1, args


def test_quality_is_measured_each_epoch_kept_in_the_history_and_printed(cli, tmp_path):
    code, out, _ = cli("train", "dcgan", "--epochs", "2", "--output-dir", str(tmp_path / "q"))
    assert code == 0 and "epoch 1: FD" in out and "epoch 2: FD" in out and "class entropy" in out
    history = read_checkpoint(tmp_path / "q" / "dcgan" / "checkpoint.pt")["history"]
    assert history["fd_epoch"] == [1, 2] and len(history["fd"]) == 2 == len(history["fd_class_entropy"])
    assert all(value > 0 for value in history["fd"]) and 0 <= history["fd_class_entropy"][0] <= math.log2(10)
    code, out, _ = cli("train", "dcgan", "--epochs", "1", "--output-dir", str(tmp_path / "q"),
                       "--run-name", "off", "--quality-every", "0")  # fmt: skip
    assert code == 0 and "FD" not in out
    assert "fd" not in read_checkpoint(tmp_path / "q" / "off" / "checkpoint.pt")["history"]
