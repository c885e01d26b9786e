"""The quality-budget benchmark in its small mode: variants at the same generator steps, both
feature spaces, a table finished by the same command, stopped runs continued exactly."""

from __future__ import annotations

import json
import math

import pytest
import torch

from benchmarks import quality_budget
from benchmarks.quality_budget import ResidualSNDiscriminator, add_runs, parse_variant
from benchmarks.records import update_record
from gan_helpers.runs import new_run, read_checkpoint
from gan_helpers.training import train
from gan_helpers.weights import export_generator, load_generator

SMALL = ["--epochs", "1", "--subset", "0.01", "--samples", "100", "--seeds", "0", "--device", "cpu"]


def test_variants_train_the_same_generator_steps_and_are_scored_in_both_spaces(tmp_path, capsys):
    record = tmp_path / "table.json"
    variants = ["SN-GAN", "batch 64+residual D"]  # written the one way in the record
    quality_budget.main([*SMALL, "--variants", *variants, "--runs-dir", str(tmp_path), "--json", str(record)])
    runs = json.loads(record.read_text())["runs"]
    assert list(runs) == ["SN-GAN | 0", "residual D + batch 64 | 0"]
    assert runs["SN-GAN | 0"]["steps"] == runs["residual D + batch 64 | 0"]["steps"] == 600 // 32
    for scores in runs.values():
        for key in ("fd", "fd_encoder", "recall", "recall_encoder", "precision", "precision_encoder"):
            assert math.isfinite(scores[key])
    out = capsys.readouterr().out
    assert "classifier: lowest mean FD" in out and "encoder recall" in out


def test_the_same_command_again_reads_the_record_instead_of_training(tmp_path, capsys, monkeypatch):
    record = tmp_path / "table.json"
    arguments = [*SMALL, "--variants", "SN-GAN", "--runs-dir", str(tmp_path), "--json", str(record)]
    quality_budget.main(arguments)
    first = capsys.readouterr().out.splitlines()[1]
    monkeypatch.setattr(quality_budget, "train", lambda *args, **kwargs: pytest.fail("trained again"))
    quality_budget.main(arguments)
    assert capsys.readouterr().out.splitlines()[1] == first
    with pytest.raises(SystemExit, match=r"holds runs of .* 100 samples; give another --json file"):
        quality_budget.main([*arguments, "--samples", "50"])  # another setting: never mixed in


def test_runs_another_command_adds_to_the_record_meanwhile_are_kept(tmp_path, monkeypatch):
    record = tmp_path / "table.json"
    setting = "1 epochs of batches of 32, subset 0.01, 100 samples"
    scores = {"steps": 18, "seconds": 2.0, "fd": 1.0, "fd_encoder": 0.1}
    scores |= {f"{name}{space}": 0.5 for name in ("recall", "precision") for space in ("", "_encoder")}

    def finished_here_and_elsewhere(name, seed, args):
        update_record(
            record, lambda old: add_runs(old, setting, {"no R1 | 7": scores}), {}
        )  # another command
        return scores

    monkeypatch.setattr(quality_budget, "run_variant", finished_here_and_elsewhere)
    quality_budget.main([*SMALL, "--variants", "SN-GAN", "--runs-dir", str(tmp_path), "--json", str(record)])
    assert set(json.loads(record.read_text())["runs"]) == {"no R1 | 7", "SN-GAN | 0"}


def test_report_prints_the_finished_runs_and_seed_counts_training_nothing(tmp_path, capsys, monkeypatch):
    record = tmp_path / "table.json"
    setting = "10 epochs of batches of 32, subset 1, 10000 samples"

    def scores(fd: float) -> dict:
        names = [f"{name}{space}" for name in ("recall", "precision") for space in ("", "_encoder")]
        return {"steps": 18, "seconds": 2.0, "fd": fd, "fd_encoder": fd / 10} | dict.fromkeys(names, 0.5)

    runs = {"SN-GAN | 0": scores(20.0), "SN-GAN | 1": scores(22.0), "TTUR 1:4 | 0": scores(30.0)}
    update_record(record, lambda old: add_runs(old, setting, runs), {})
    monkeypatch.setattr(quality_budget.Reference, "build", lambda **kwargs: pytest.fail("loaded the metrics"))
    quality_budget.main(["--report", "--json", str(record)])
    out = capsys.readouterr().out
    assert f"{setting}, finished runs of seeds [0, 1, 2]" in out
    assert "SN-GAN (2 seeds)" in out and "21.00 ( 20.00- 22.00)" in out and "TTUR 1:4 (1 seed)" in out
    assert "one seed has no spread yet, so the lines above decide nothing for: TTUR 1:4 (1 seed)" in out
    quality_budget.main(["--report", "--json", str(record), "--seeds", "1", "--variants", "TTUR 1:4"])
    assert "no finished runs of these variants and seeds yet" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        quality_budget.main(["--report", "--json", str(tmp_path / "none.json")])
    assert "--report prints the runs a record holds" in capsys.readouterr().err


def test_a_stopped_run_is_continued_from_its_checkpoint_exactly_and_exports(tmp_path, monkeypatch, capsys):
    """Stopped after one of three epochs and continued by the command: the same weights as a run
    never stopped (the residual discriminator's spectral-norm vectors included), and its seconds
    those of the whole run at the pace of the sitting that finished it. A variant that changes
    only the discriminator exports a generator that loads as the SN-GAN's."""
    arguments = ["--epochs", "3", *SMALL[2:], "--variants", "residual D"]
    stopped_dir = ["--runs-dir", str(tmp_path / "stopped")]
    config, networks = quality_budget.variant_config(
        "residual D", 0, quality_budget.parse_arguments([*arguments, *stopped_dir])
    )
    config.num_epochs = 1
    train(new_run(config, **networks), progress=False)
    clock = iter([100.0, 103.0])  # the second sitting: two of the three epochs in 3 s
    monkeypatch.setattr(quality_budget, "time", type("Clock", (), {"perf_counter": lambda: next(clock)}))
    quality_budget.main([*arguments, *stopped_dir, "--json", str(tmp_path / "stopped.json")])
    monkeypatch.undo()
    quality_budget.main([*arguments, "--runs-dir", str(tmp_path / "whole")])
    checkpoints = {folder: tmp_path / folder / config.run_name / "checkpoint.pt"
                   for folder in ("stopped", "whole")}
    stopped, whole = (read_checkpoint(path) for path in checkpoints.values())
    assert stopped["position"]["epoch"] == whole["position"]["epoch"] == 3
    recorded = json.loads((tmp_path / "stopped.json").read_text())["runs"]["residual D | 0"]
    assert recorded["resumed"] and recorded["seconds"] == pytest.approx(4.5)
    for network in ("generator", "discriminator", "ema"):
        for key, value in whole[network].items():
            assert torch.equal(stopped[network][key], value), f"{network}.{key} differs"
    capsys.readouterr()
    quality_budget.main([*arguments, *stopped_dir])  # finished already: scored, nothing to time
    assert "not timed (trained in earlier sittings)" in capsys.readouterr().out
    exported = export_generator(checkpoints["whole"], tmp_path / "residual-d.pt")
    for key, value in load_generator(exported, kind="sngan").state_dict().items():
        average = whole["ema"][key]
        expected = average.half().to(value.dtype) if average.is_floating_point() else average
        assert torch.equal(value, expected), f"exported {key} differs"


def test_lr_decay_is_the_engines_schedule_over_the_whole_budget():
    name, changes = parse_variant("lr decay + batch 64")
    assert (name, changes) == ("batch 64 + lr decay", {"batch_size": 64, "lr_decay": 1.0})


def test_a_run_stopped_by_ctrl_c_is_kept_to_continue_not_recorded_as_finished(tmp_path, monkeypatch):
    monkeypatch.setattr(quality_budget, "train", lambda run, **kwargs: run)  # stopped before its first step
    record = tmp_path / "table.json"
    arguments = [*SMALL, "--variants", "SN-GAN", "--runs-dir", str(tmp_path), "--json", str(record)]
    with pytest.raises(SystemExit, match="SN-GAN seed 0 stopped at generator step 0; the same command"):
        quality_budget.main(arguments)
    assert "SN-GAN | 0" not in (json.loads(record.read_text())["runs"] if record.exists() else {})


def test_a_run_folder_started_with_other_settings_is_refused_not_continued(tmp_path):
    arguments = ["--epochs", "2", *SMALL[2:], "--variants", "SN-GAN", "--runs-dir", str(tmp_path)]
    config, networks = quality_budget.variant_config("SN-GAN", 0, quality_budget.parse_arguments(arguments))
    config.num_epochs, config.lr_g = 1, 1e-3
    run = train(new_run(config, **networks), progress=False)
    before = run.checkpoint_path.read_bytes()
    refusal = r"other settings than asked now: lr_g 0.0004 \(was 0.001\); delete its folder"
    with pytest.raises(SystemExit, match=refusal):
        quality_budget.main(arguments)
    assert run.checkpoint_path.read_bytes() == before


def test_the_residual_discriminator_scores_each_image_with_every_layer_normalized():
    discriminator = ResidualSNDiscriminator(blocks=2)
    weighted = [m for m in discriminator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    assert len(weighted) == 2 + 2 * 2 + 1  # two strided convolutions, two per block, the score
    assert all(hasattr(layer, "parametrizations") for layer in weighted)
    assert discriminator(torch.randn(5, 1, 28, 28)).shape == (5,)
    colour = ResidualSNDiscriminator(image_shape=(3, 32, 32))
    assert colour(torch.randn(2, 3, 32, 32)).shape == (2,)


def test_an_unknown_change_is_refused_with_the_names_that_exist(capsys):
    with pytest.raises(SystemExit):
        quality_budget.parse_arguments(["--variants", "residual D + wider"])
    assert "unknown change 'wider'" in capsys.readouterr().err
    assert parse_variant("batch 64+TTUR 1:4") == (
        "TTUR 1:4 + batch 64",
        {"lr_g": 1e-4, "lr_d": 4e-4, "batch_size": 64},
    )
    with pytest.raises(SystemExit):
        quality_budget.parse_arguments(["--variants", "TTUR 1:4 + rates 2e-4"])
    assert "'rates 2e-4' and an earlier change both set lr_d, lr_g; keep one" in capsys.readouterr().err
