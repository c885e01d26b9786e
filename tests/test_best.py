"""The best checkpoint: with quality tracking, the run keeps the generator of the epoch with the
lowest tracked FD, through a resume, and ``export --best`` ships it."""

from __future__ import annotations

import itertools

import pytest
import torch
from PIL import Image

from gan_helpers import training
from gan_helpers.runs import read_checkpoint


@pytest.fixture
def scripted_fd(monkeypatch):
    """Tracked FDs read from a list: ``scripted_fd([5, 3, 4])`` makes epoch 2 the best."""

    def script(values):
        feed = itertools.chain(values)
        real = training.tracked_quality

        def tracked(generator, references, seed=0):
            value = next(feed)
            return {**real(generator, references, seed), "fd": value, "fd_encoder": value}

        monkeypatch.setattr(training, "tracked_quality", tracked)

    return script


def test_the_best_epoch_is_kept_through_a_resume_and_exported(cli, tmp_path, scripted_fd):
    folder = tmp_path / "runs"
    scripted_fd([5.0, 3.0, 4.0, 6.0])
    code, out, _ = cli("train", "dcgan", "--epochs", "3", "--output-dir", str(folder))
    assert code == 0 and "epoch 2: FD 3.00" in out and out.count("the best so far") == 2  # epochs 1 and 2
    checkpoint = folder / "dcgan" / "checkpoint.pt"
    state = read_checkpoint(checkpoint)
    assert state["best"]["epoch"] == 2 and state["best"]["fd"] == 3.0 == state["best"]["score"]
    last = state["ema"]
    assert any(not torch.equal(state["best"]["generator"][k], last[k]) for k in last)  # not the last weights
    with Image.open(folder / "dcgan" / "best.png") as grid:
        assert grid.height == grid.width + 16  # the caption strip says which epoch it shows

    code, out, _ = cli("train", "dcgan", "--epochs", "4", "--resume", str(checkpoint))
    resumed = read_checkpoint(checkpoint)
    assert code == 0 and resumed["position"]["epoch"] == 4 and resumed["best"]["epoch"] == 2
    assert all(torch.equal(resumed["best"]["generator"][k], state["best"]["generator"][k]) for k in last)

    code, _, _ = cli("export", str(checkpoint), str(tmp_path / "best.pt"), "--best")
    exported = read_checkpoint(tmp_path / "best.pt")
    assert code == 0 and exported["epoch"] == 2 and exported["averaged"] is True
    for key, value in state["best"]["generator"].items():
        expected = value.half() if value.is_floating_point() else value
        assert torch.equal(exported["generator"][key], expected)
    code, _, _ = cli("export", str(checkpoint), str(tmp_path / "last.pt"))
    assert code == 0 and read_checkpoint(tmp_path / "last.pt")["epoch"] == 4


def test_export_best_of_a_run_without_quality_tracking_is_one_line(cli, tmp_path):
    code, _, _ = cli("train", "dcgan", "--epochs", "1", "--output-dir", str(tmp_path), "--quality-every", "0")
    checkpoint = tmp_path / "dcgan" / "checkpoint.pt"
    assert code == 0 and read_checkpoint(checkpoint)["best"] is None
    code, _, err = cli("export", str(checkpoint), str(tmp_path / "best.pt"), "--best")
    assert code == 2 and "keeps no best epoch" in err and err.count("\n") == 1
    assert not (tmp_path / "best.pt").exists()


def test_overwrite_removes_the_earlier_runs_best_grid(cli, tmp_path):
    assert cli("train", "dcgan", "--epochs", "1", "--output-dir", str(tmp_path))[0] == 0
    assert (tmp_path / "dcgan" / "best.png").exists()
    code, _, _ = cli("train", "dcgan", "--epochs", "1", "--output-dir", str(tmp_path),
                     "--quality-every", "0", "--overwrite")  # fmt: skip
    assert code == 0 and not (tmp_path / "dcgan" / "best.png").exists()
