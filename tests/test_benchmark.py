"""The throughput benchmark runs end to end (one tiny measurement) and reports a ratio per model."""

from __future__ import annotations

import json
import re

import pytest

from benchmarks import throughput
from tests.helpers import dropout_rates


def rate_and_ratio(line: str) -> tuple[float, float | None]:
    ratio = re.search(r"([\d.]+)x$", line)
    return float(line.split()[2].replace(",", "")), (float(ratio.group(1)) if ratio else None)


def test_benchmark_prints_reference_ours_and_ratio(capsys):
    argv = ["--device", "cpu", "--models", "mlp", "--steps", "1", "--repeats", "1", "--warmup", "1"]
    throughput.main([*argv, "--channels-last", "--no-reuse-cpu-memory"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("device: cpu")
    rows = {line.split()[1]: rate_and_ratio(line) for line in lines[2:]}
    assert list(rows) == ["reference", "ours", "ours+channels_last", "ours-reuse"]  # a row per variant
    reference = rows["reference"][0]
    for rate, ratio in list(rows.values())[1:]:
        assert rate > 0 and abs(ratio - rate / reference) < 0.01 * ratio + 0.01  # one repeat: one pair


def test_each_row_of_ours_changes_only_its_own_options():
    defaults = dict(amp=False, compile=False, channels_last=False, cuda_graphs=True, reuse_cpu_memory=True)
    assert throughput.loop_options("ours") == defaults
    assert throughput.loop_options("ours+amp+compile") == defaults | {"amp": True, "compile": True}
    assert throughput.loop_options("ours-graphs") == defaults | {"cuda_graphs": False}
    assert throughput.loop_options("ours-reuse") == defaults | {"reuse_cpu_memory": False}


def test_reference_trains_the_plain_networks_without_our_speed_work():
    from benchmarks.reference import TextbookGAN

    for model in ("dcgan", "wgan-gp"):
        gan = TextbookGAN(model, "cpu", batch_size=8)
        gan.train_steps(1)
        layers = [*gan.generator.modules(), *gan.discriminator.modules()]
        assert {type(layer).__module__.split(".")[0] for layer in layers} == {"torch", "gan_helpers"}
        assert not any(type(layer).__module__ == "gan_helpers.speed" for layer in layers)
        assert not any(layer._forward_pre_hooks for layer in layers)  # no NHWC hook either


def test_our_loop_keeps_the_faster_layers_for_the_workers_lifetime():
    import gc

    engine = throughput.Engine("dcgan", "cpu", batch_size=8)
    gc.collect()  # a context entered and then dropped would be closed here, restoring plain layers
    names = {type(layer).__name__ for layer in engine.run.discriminator.modules()}
    assert "FastDropout" in names and "Dropout" not in names
    engine.train_steps(1)


def test_the_quality_benchmarks_extra_averages_follow_the_engines_rule(tmp_path):
    import torch

    from benchmarks.quality import with_averages
    from gan_helpers.config import TrainConfig
    from gan_helpers.runs import make_average, new_run

    run = new_run(TrainConfig.for_model("mlp", device="cpu", batch_size=8, output_dir=str(tmp_path)))
    averages = {0.9: make_average(run.generator), 0.99: make_average(run.generator)}
    step = with_averages("mlp", averages)
    real = torch.rand(8, 1, 28, 28) * 2 - 1
    run.generator_steps = 1000  # past the warm-up, where the two decays differ
    for _ in range(3):
        assert set(step(run, real, torch.zeros(8, dtype=torch.long))) >= {"loss_d", "loss_g"}
        run.step, run.generator_steps = run.step + 1, run.generator_steps + 1
    assert run.ema is not None  # the engine's own average is the engine's business, not the step's
    moved = [not torch.equal(a.net[0].weight, run.generator.net[0].weight) for a in averages.values()]
    assert all(moved)  # behind the trained weights, each by its own decay
    assert not torch.equal(averages[0.9].net[0].weight, averages[0.99].net[0].weight)


def test_the_textbook_loop_keeps_the_textbook_dcgan_settings_and_the_speed_rows_its_networks():
    from benchmarks.reference import TextbookGAN
    from gan_helpers.config import TrainConfig

    textbook = TextbookGAN("dcgan", "cpu", batch_size=8)
    ours = TrainConfig.for_model("dcgan")
    assert (ours.lr_g, ours.dropout) != (textbook.config.lr_g, textbook.config.dropout)  # two recipes
    assert textbook.opt_g.param_groups[0]["lr"] == textbook.opt_d.param_groups[0]["lr"] == 2e-4
    engine = throughput.Engine("dcgan", "cpu", batch_size=8)  # speed is compared on the same work
    assert dropout_rates(engine.run.discriminator) == dropout_rates(textbook.discriminator) == [0.3, 0.3]


def test_the_recipes_benchmark_scores_each_recipe_and_refuses_unknown_names(capsys, tmp_path):
    from benchmarks import recipes

    with pytest.raises(SystemExit) as stop:
        recipes.main(["--recipes", "textbook", "batch 7"])
    assert stop.value.code == 2 and "unknown recipe 'batch 7'" in capsys.readouterr().err
    argv = ["--model", "mlp", "--epochs", "1", "--samples", "100", "--device", "cpu", "--subset", "0.05"]
    recipes.main([*argv, "--recipes", "textbook", "batch 64", "--json", str(tmp_path / "rows.json")])
    out = capsys.readouterr().out
    rows = json.loads((tmp_path / "rows.json").read_text())["rows"]
    assert list(rows) == ["textbook", "batch 64"] and rows["textbook"][0]["FD"] != rows["batch 64"][0]["FD"]
    assert [row["space"] for row in rows["batch 64"]] == ["classifier", "encoder"]  # scored in both spaces
    assert "(1.00x)" in out and ("lowest FD in both spaces" in out or "no recipe leads" in out)


def test_a_recipe_wins_only_if_it_leads_in_both_spaces():
    from benchmarks.recipes import verdict

    def rows(classifier, encoder):
        return [{"space": "classifier", "FD": classifier}, {"space": "encoder", "FD": encoder}]

    seconds = {"a": 1.0, "b": 1.0}
    assert verdict({"a": rows(10, 5), "b": rows(8, 4)}, seconds).endswith("lowest FD in both spaces: b")
    split = verdict({"a": rows(10, 3), "b": rows(8, 4)}, seconds)
    assert split.endswith("no recipe leads in both spaces: classifier: b, encoder: a")
    assert "encoder   4.00 (1.33x)" in split


def test_each_dcgan_recipe_is_its_own_change_to_the_textbook_settings_and_one_is_the_defaults():
    from benchmarks.recipes import RECIPES, recipe_config
    from gan_helpers.config import TrainConfig

    fields = ("batch_size", "lr_g", "lr_d", "dropout")
    configs = {name: tuple(getattr(recipe_config("dcgan", changes), f) for f in fields)
               for name, changes in RECIPES.items()}  # fmt: skip
    assert len(set(configs.values())) == len(RECIPES)  # no two recipes train the same thing
    assert configs["textbook"] == (128, 2e-4, 2e-4, 0.3)  # what the textbook loop trains
    defaults = TrainConfig.for_model("dcgan")
    assert [n for n, c in configs.items() if c == tuple(getattr(defaults, f) for f in fields)] == [
        "batch 32, no dropout, lr_g 4e-4"
    ]  # the recipe the defaults were chosen from (benchmarks/README.md)


def test_the_wgan_try_it_benchmark_trains_the_chapters_own_critic():
    import torch

    from benchmarks.wgan_try_it import chapter_class

    critic = chapter_class("CriticWithBatchNorm")()
    assert any(isinstance(layer, torch.nn.BatchNorm2d) for layer in critic.modules())
    assert critic(torch.zeros(3, 1, 28, 28)).shape == (3,)


def test_little_data_runs_whole_epochs_and_finishes_an_interrupted_file(tmp_path, monkeypatch, capsys):
    from benchmarks import little_data

    assert [little_data.epochs_for(share, 1875) for share in (0.01, 0.05, 1.0)] == [104, 20, 1]
    monkeypatch.setattr(little_data.Reference, "build", lambda **options: None)
    trained = []

    def fake_run(share, mode, seed, args):
        trained.append((share, mode, seed))
        return {"fd": 10 * share + seed, "fd_encoder": 1.0 + seed, "steps": 5, "seconds": 1.0}

    monkeypatch.setattr(little_data, "run_one", fake_run)
    table = tmp_path / "table.json"
    argv = ["--shares", "0.01", "--modes", "none", "diff", "--seeds", "0", "1", "--json", str(table)]
    little_data.main(argv)
    assert len(trained) == 4 and len(json.loads(table.read_text())["runs"]) == 4
    little_data.main(argv)  # everything is in the file: nothing trains again, the table is printed
    assert len(trained) == 4
    assert "1% diff" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        little_data.main([*argv, "--steps", "10"])  # another budget never mixes into the same file
