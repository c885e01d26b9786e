"""The training engine: checkpoints, exact resume, NaN stop, interrupt, and the command line."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch

from gan_helpers import data, files
from gan_helpers.cli import main
from gan_helpers.config import TrainConfig
from gan_helpers.runs import (
    load_run,
    make_average,
    new_run,
    read_checkpoint,
    save_checkpoint,
    update_average,
)
from gan_helpers.sampling import generate_from
from gan_helpers.training import TrainingDivergedError, train
from gan_helpers.weights import export_generator, load_generator
from tests.helpers import same_weights, tiny_config, tiny_data, tiny_spec


@pytest.fixture
def data_root(tmp_path):
    tiny_data(tmp_path / "data")  # writes the files
    return tmp_path / "data"


@pytest.fixture
def tiny_registry(monkeypatch):
    """For the command line, which loads the data by name: Fashion-MNIST's sizes are the tiny files'."""
    monkeypatch.setitem(data.DATASETS, "fashion-mnist", tiny_spec())


config = tiny_config


def fit(run, **options):
    """``train`` on the tiny data under ``run.config.data_root``, without a progress bar."""
    return train(run, data=tiny_data(run.config.data_root), **{"progress": False, **options})


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


@pytest.mark.parametrize("model", ["mlp", "dcgan", "wgan-gp", "cgan", "sngan"])
def test_training_writes_history_samples_and_checkpoint(data_root, model):
    run = fit(new_run(config(data_root, model)))
    assert (run.epoch, run.batch, run.step) == (2, 0, 6)  # 30 images, batch 8, drop_last
    keys = {"mlp": "d_real", "dcgan": "d_fake", "wgan-gp": "wasserstein", "cgan": "d_real", "sngan": "r1"}
    assert len(run.history["step"]) == 6 and len(run.history[keys[model]]) == 6
    assert sorted(p.name for p in run.run_dir.iterdir()) == [  # what the command line's runs write too
        ".lock", "best.png", "checkpoint.pt", "epoch_001.png", "epoch_002.png", "history.json", "losses.png",
    ]  # fmt: skip


def test_same_seed_same_result(data_root):
    first = fit(new_run(config(data_root, run_name="a")))
    second = fit(new_run(config(data_root, run_name="b")))
    assert_same_weights(first.generator, second.generator)
    third = fit(new_run(config(data_root, run_name="c", seed=2)))
    assert not torch.equal(third.samples(), first.samples())


@pytest.mark.parametrize("model", ["dcgan", "wgan-gp", "cgan", "sngan"])
def test_resume_from_epoch_checkpoint_is_exact(data_root, model):
    whole = fit(new_run(config(data_root, model, num_epochs=3, run_name="whole")))
    part = fit(new_run(config(data_root, model, num_epochs=1, run_name="part")))
    resumed = fit(load_run(part.checkpoint_path, num_epochs=3))
    assert resumed.step == whole.step
    assert_same_weights(resumed.generator, whole.generator)
    assert_same_weights(resumed.discriminator, whole.discriminator)
    assert_same_weights(resumed.ema, whole.ema)  # the average of the weights resumes exactly too
    assert json.dumps(resumed.history) == json.dumps(whole.history)  # NaN-aware comparison


def test_ctrl_c_saves_and_resume_mid_epoch_is_exact(data_root):
    whole = fit(new_run(config(data_root, "wgan-gp", run_name="whole")))

    def interrupt_at_step_4(run):
        if run.step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # what Ctrl-C or Jupyter's stop button sends

    cut = new_run(config(data_root, "wgan-gp", run_name="cut"))
    stopped = fit(cut, progress=True, on_log=interrupt_at_step_4)
    assert (stopped.epoch, stopped.batch, stopped.step) == (1, 1, 4)
    position = read_checkpoint(stopped.checkpoint_path)["position"]
    # n_critic 5: the generator has not moved yet
    assert position == {"epoch": 1, "batch": 1, "step": 4, "generator_steps": 0}
    resumed = fit(load_run(stopped.checkpoint_path))
    assert_same_weights(resumed.generator, whole.generator)


def test_lr_decay_holds_the_rates_then_lowers_them_linearly_and_resumes_exactly(data_root):
    """lr_decay 0.5 of six batches: batches 0-3 at the config's rates, then 2/3 and 1/3 of them
    (the rate falls to 0 at the run's end). Stopped by Ctrl-C inside the decay and resumed: the
    weights, the average and the optimizers' states of a run never stopped."""
    rates = []

    def recording_step(run, real, labels):
        rates.append((run.opt_g.param_groups[0]["lr"], run.opt_d.param_groups[0]["lr"]))
        return run.config.kind.step(run, real, labels)

    whole = fit(new_run(config(data_root, lr_decay=0.5, run_name="whole")), step=recording_step)
    lr_g, lr_d = whole.config.lr_g, whole.config.lr_d
    expected = [(lr_g * scale, lr_d * scale) for scale in (1, 1, 1, 1, 2 / 3, 1 / 3)]
    assert rates == [pytest.approx(pair) for pair in expected]

    def interrupt_at_step_5(run):
        if run.step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = fit(new_run(config(data_root, lr_decay=0.5, run_name="cut")), on_log=interrupt_at_step_5)
    assert (stopped.epoch, stopped.step) == (1, 5)
    resumed = fit(load_run(stopped.checkpoint_path))
    for network in ("generator", "discriminator", "ema"):
        assert_same_weights(getattr(resumed, network), getattr(whole, network))
    assert resumed.opt_g.param_groups[0]["lr"] == whole.opt_g.param_groups[0]["lr"] == pytest.approx(lr_g / 3)


def test_lr_decay_keeps_its_clock_when_a_resume_changes_the_batch_size(data_root):
    """One epoch of three batches of 8, then one of two batches of 15: the decay (over the second
    epoch) counts epochs, not batches of either size, so the last batch trains at half the rate."""
    rates = []

    def recording_step(run, real, labels):
        rates.append(run.opt_g.param_groups[0]["lr"])
        return run.config.kind.step(run, real, labels)

    first = fit(new_run(config(data_root, lr_decay=0.5, num_epochs=1)), step=recording_step)
    lr_g = first.config.lr_g
    assert rates == [pytest.approx(lr_g * scale) for scale in (1, 1, 2 / 3)]  # decaying to its own end
    rates.clear()
    fit(load_run(first.checkpoint_path, num_epochs=2, batch_size=15), step=recording_step)
    assert rates == [pytest.approx(lr_g * scale) for scale in (1, 1 / 2)]


def test_nan_loss_stops_and_keeps_last_good_checkpoint(data_root):
    run = fit(new_run(config(data_root, num_epochs=1)))
    good = read_checkpoint(run.checkpoint_path)
    run = load_run(run.checkpoint_path, num_epochs=2)
    with torch.no_grad():
        next(run.discriminator.parameters()).fill_(float("nan"))
    with pytest.raises(TrainingDivergedError, match=r"diverged at epoch 2.*loss_d.*lower learning rates"):
        fit(run)
    kept = read_checkpoint(run.checkpoint_path)
    assert kept["position"] == good["position"]
    assert all(torch.equal(kept["generator"][k], v) for k, v in good["generator"].items())


def test_checkpoint_round_trip_and_wrong_model(data_root, tmp_path):
    run = new_run(config(data_root, "mlp"))
    path = save_checkpoint(run, tmp_path / "mlp.pt")
    loaded = load_run(path)
    assert_same_weights(loaded.generator, run.generator)
    folder = {"output_dir": str(tmp_path.parent), "run_name": tmp_path.name}  # where the file is
    assert loaded.config == TrainConfig.from_dict(run.config.to_dict() | folder)
    assert torch.equal(loaded.fixed_noise, run.fixed_noise)
    with pytest.raises(ValueError, match="holds a 'mlp' model, not 'dcgan'"):
        load_generator(path, kind="dcgan")
    state = torch.load(path, weights_only=True)
    state["generator"]["net.0.weight"] = torch.zeros(3, 3)
    torch.save(state, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="does not fit MLPGenerator"):
        load_run(tmp_path / "bad.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable PyTorch checkpoint"):
        load_run(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_run(tmp_path / "missing.pt")


def test_a_gpu_checkpoint_resumes_on_the_cpu_with_the_cpus_optimizer(data_root, tmp_path):
    run = fit(new_run(config(data_root, num_epochs=1)))
    state = torch.load(run.checkpoint_path, weights_only=True)
    for group in state["opt_g"]["param_groups"] + state["opt_d"]["param_groups"]:
        group.update(fused=True, capturable=True)  # how a CUDA run saves its Adam
    torch.save(state, tmp_path / "from_gpu.pt")
    resumed = fit(load_run(tmp_path / "from_gpu.pt", num_epochs=2))
    for group in resumed.opt_g.param_groups + resumed.opt_d.param_groups:
        assert not group["fused"] and not group["capturable"]
    assert resumed.opt_d.param_groups[0]["lr"] == run.opt_d.param_groups[0]["lr"]  # what it learned stays
    assert resumed.epoch == 2


def test_atomic_save_leaves_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = files.atomic_save({"a": torch.ones(1)}, tmp_path / "c.pt")

    def broken_save(obj, file):
        file.write(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        files.atomic_save({"a": torch.zeros(1)}, path)
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.ones(1))
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]


def test_export_generator_is_half_precision_and_loads(data_root, tmp_path):
    run = fit(new_run(config(data_root, num_epochs=1)))
    exported = export_generator(run.checkpoint_path, tmp_path / "g.pt")
    assert exported.stat().st_size < run.checkpoint_path.stat().st_size / 3
    generator = load_generator(exported, kind="dcgan")
    assert not generator.training
    reference = run.samples()
    assert torch.allclose(generator(run.fixed_noise), reference, atol=2e-2)


def test_command_line_trains_resumes_and_reports(data_root, tiny_registry, capsys):
    out = data_root.parent / "cli"
    args = ["train", "mlp", "--epochs", "1", "--batch-size", "8", "--device", "cpu", "--quiet",
            "--data-root", str(data_root), "--output-dir", str(out), "--log-every", "1"]  # fmt: skip
    assert main(args) == 0
    files = sorted(p.name for p in (out / "mlp").iterdir())
    assert files == [".lock", "best.png", "checkpoint.pt", "epoch_001.png", "history.json", "losses.png"]
    assert main([*args[:3], "2", *args[4:], "--resume", str(out / "mlp" / "checkpoint.pt")]) == 0
    history = json.loads((out / "mlp" / "history.json").read_text())
    assert history["step"] == [1, 2, 3, 4, 5, 6]
    assert main(["train", "mlp", "--lr", "5", "--data-root", str(data_root)]) == 2
    assert "error: --lr 5.0: must be a number in (0.0, 1.0]" in capsys.readouterr().err
    assert main(["train", "mlp", "--lr-decay", "2", "--data-root", str(data_root)]) == 2
    assert "error: --lr-decay 2.0: must be a number in [0.0, 1.0]" in capsys.readouterr().err


def test_history_series_stay_aligned_when_a_window_has_no_generator_step(data_root):
    run = fit(new_run(config(data_root, "wgan-gp", n_critic=5, log_every=1)))
    lengths = {key: len(values) for key, values in run.history.items() if not key.startswith("fd")}
    assert set(lengths.values()) == {6}
    generator_steps = [v == v for v in run.history["loss_g"]]  # NaN != NaN
    assert generator_steps == [False, False, False, False, True, False]


def test_speed_flags_of_the_command_reach_the_config_only_when_given():
    from gan_helpers.cli import build_parser, config_from_args

    given = config_from_args(build_parser().parse_args(["train", "dcgan", "--amp", "--channels-last"]))
    assert given["amp"] is True and given["channels_last"] is True and "compile" not in given
    plain = config_from_args(build_parser().parse_args(["train", "dcgan"]))
    assert not {"amp", "compile", "channels_last"} & set(plain)


def test_weight_average_update_rule_with_its_warm_up():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    average = make_average(model)
    model(torch.randn(8, 3))  # moves the batch-norm statistics and counter of the model only
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    before = {k: v.clone() for k, v in average.state_dict().items()}
    update_average(average, model, decay=0.9, step=1000)  # past the warm-up: d = 0.9
    for key, value in average.state_dict().items():
        current = model.state_dict()[key]
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.9 * before[key] + 0.1 * current)
        else:
            assert torch.equal(value, current)  # num_batches_tracked is copied
    previous = average[0].weight.clone()
    update_average(average, model, decay=0.9, step=0)  # first step: d = 1/10, the average follows fast
    torch.testing.assert_close(average[0].weight, 0.1 * previous + 0.9 * model[0].weight)
    assert not any(p.requires_grad for p in average.parameters())


def test_the_average_only_copies_the_weights_before_its_start(data_root):
    model = torch.nn.Linear(3, 2)
    average = make_average(model)
    with torch.no_grad():
        model.weight.add_(1.0)
    update_average(average, model, decay=0.9, step=4, start=5)  # before the start: a copy
    assert torch.equal(average.weight, model.weight)
    previous = average.weight.clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    update_average(average, model, decay=0.9, step=5, start=5)  # its first step: d = 1/10
    torch.testing.assert_close(average.weight, 0.1 * previous + 0.9 * model.weight)
    late = fit(new_run(config(data_root, "dcgan", num_epochs=1, ema_start=10)))  # 3 generator steps
    assert same_weights(late.ema, late.generator)
    with pytest.raises(ValueError, match="ema_start = 10: delays the weight average, which is off"):
        config(data_root, "dcgan", ema_start=10, ema_decay=0.0)


def test_resume_across_the_start_of_the_average_is_exact(data_root):
    """Three updates an epoch, the average starting at the fourth: stopped after the first epoch."""
    whole = fit(new_run(config(data_root, "dcgan", num_epochs=3, ema_start=4, run_name="whole")))
    part = fit(new_run(config(data_root, "dcgan", num_epochs=1, ema_start=4, run_name="part")))
    resumed = fit(load_run(part.checkpoint_path, num_epochs=3))
    assert_same_weights(resumed.ema, whole.ema)
    assert not same_weights(whole.ema, whole.generator)  # it did start averaging


def test_samples_grids_and_exports_come_from_the_averaged_generator(data_root, tmp_path):
    run = fit(new_run(config(data_root, "dcgan", num_epochs=1)))
    assert not same_weights(run.ema, run.generator)
    assert torch.equal(run.samples(), generate_from(run.ema, run.fixed_noise))
    assert not torch.equal(run.samples(), run.samples(averaged=False))
    exported = load_generator(export_generator(run.checkpoint_path, tmp_path / "g.pt"))
    assert torch.allclose(exported(run.fixed_noise), generate_from(run.ema, run.fixed_noise), atol=2e-2)
    raw = load_generator(run.checkpoint_path, averaged=False)
    assert torch.equal(generate_from(raw, run.fixed_noise), run.samples(averaged=False))
    off = fit(new_run(config(data_root, "dcgan", num_epochs=1, ema_decay=0.0, run_name="off")))
    assert off.ema is None and read_checkpoint(off.checkpoint_path)["ema"] is None


def test_the_weight_average_moves_once_per_generator_update(data_root):
    """WGAN-GP moves its generator one batch in n_critic: its average must follow those updates only."""
    critic_only = new_run(config(data_root, "wgan-gp", n_critic=4, num_epochs=1))
    before = weights(critic_only.ema)
    critic_only = fit(critic_only)  # 3 batches, all critic updates: the generator never moved
    assert critic_only.generator_steps == 0 and all(
        torch.equal(before[k], v) for k, v in critic_only.ema.state_dict().items()
    )
    every_other = fit(new_run(config(data_root, "wgan-gp", n_critic=2, run_name="two")))  # 6 batches
    assert every_other.step == 6 and every_other.generator_steps == 3
    assert fit(new_run(config(data_root, "dcgan", num_epochs=1))).generator_steps == 3  # one per batch
