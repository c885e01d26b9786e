"""One source of truth: the chapters' code is the package's, and a learner's edited cell is what trains."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gan_helpers import training
from gan_helpers.data import project_dir
from gan_helpers.runs import new_run
from gan_helpers.steps import gan_step
from gan_helpers.training import train
from tests.helpers import tiny_config, tiny_data

ROOT = project_dir()
sys.path.insert(0, str(ROOT / "tools"))
import export_code  # noqa: E402  (tools/ is not a package)


def test_every_exported_cell_is_exactly_the_package_code():
    assert export_code.differences() == []


def test_each_teaching_chapter_defines_its_key_code_in_cells():
    exported = {(d.notebook[:2], d.name) for d in export_code.collect()}
    expected = {
        "02": {"MLPGenerator", "MLPDiscriminator", "discriminator_loss", "generator_loss", "gan_step"},
        "03": {"DCGANGenerator", "DCGANDiscriminator"},
        "04": {"Critic", "gradient_penalty", "critic_step", "generator_step", "wgan_gp_train_step"},
        "06": {"ConditionalGenerator", "ProjectionDiscriminator", "conditional_train_step"},
    }
    for chapter, names in expected.items():
        assert names <= {name for number, name in exported if number == chapter}, chapter


def copy_project(tmp_path: Path) -> Path:
    """The notebooks and package in a scratch folder, for the tool to change."""
    for folder in ("notebooks", "gan_helpers"):
        skip = shutil.ignore_patterns("weights", "__pycache__")
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=skip)
    return tmp_path


def edit_cell(path: Path, old: str, new: str) -> None:
    """Replace ``old`` by ``new`` in the one code cell of the notebook that contains it."""
    notebook = nbformat.read(path, as_version=4)
    (cell,) = [c for c in notebook.cells if c.cell_type == "code" and old in c.source]
    cell.source = cell.source.replace(old, new)
    nbformat.write(notebook, path)


def test_an_edited_cell_is_reported_then_exported_into_the_package(tmp_path):
    root = copy_project(tmp_path)
    notebook = root / "notebooks" / "04_wgan_gp.ipynb"
    edit_cell(notebook, "return ((norms - 1) ** 2).mean()", "return ((norms - 1) ** 2).sum()")
    assert export_code.differences(root) == [
        "gradient_penalty (04_wgan_gp.ipynb -> gan_helpers/losses.py): the notebook and the package differ"
    ]
    assert export_code.export(root) == ["gradient_penalty -> gan_helpers/losses.py"]
    assert export_code.differences(root) == []
    assert "return ((norms - 1) ** 2).sum()" in (root / "gan_helpers" / "losses.py").read_text()
    assert (root / "gan_helpers" / "losses.py").read_text().count("def gradient_penalty(") == 1


def test_export_writes_only_the_modules_whose_code_changed(tmp_path):
    root = copy_project(tmp_path)
    package = root / "gan_helpers"
    for path in package.glob("*.py"):
        os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # a known, old modification time
    penalty = "return ((norms - 1) ** 2)"
    edit_cell(root / "notebooks" / "04_wgan_gp.ipynb", f"{penalty}.mean()", f"{penalty}.sum()")
    export_code.export(root)
    touched = sorted(path.name for path in package.glob("*.py") if path.stat().st_mtime_ns != 1_000_000_000)
    assert touched == ["losses.py"]


def test_the_tool_refuses_statements_and_twice_exported_names(tmp_path):
    root = copy_project(tmp_path)
    notebook = root / "notebooks" / "02_mlp_gan.ipynb"
    edit_cell(notebook, "def gan_step(", "print('hi')\n\n\ndef gan_step(")
    with pytest.raises(ValueError, match=r"only functions, classes and NAME = \.\.\. tables, found Expr"):
        export_code.differences(root)
    edit_cell(notebook, "print('hi')\n\n\n", "")
    copy = nbformat.read(notebook, as_version=4)
    nbformat.write(copy, root / "notebooks" / "99_copy.ipynb")
    with pytest.raises(ValueError, match=r"exported by both 02_mlp_gan\.ipynb and 99_copy\.ipynb"):
        export_code.collect(root)


def test_check_command_exits_non_zero_on_a_difference_only(tmp_path):
    command = [sys.executable, str(ROOT / "tools" / "export_code.py"), "--check", "--root"]
    assert subprocess.run([*command, str(ROOT)], capture_output=True, check=False).returncode == 0
    root = copy_project(tmp_path)
    edit_cell(root / "notebooks" / "03_dcgan.ipynb", "[nn.Dropout(dropout)]", "[nn.Dropout(0.5)]")
    done = subprocess.run([*command, str(root)], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and "DCGANDiscriminator (03_dcgan.ipynb" in done.stdout


def test_train_runs_the_step_it_is_given(tmp_path):
    calls = []

    def my_step(run, real, labels):
        calls.append(run.step)
        metrics = gan_step(run.generator, run.discriminator, run.opt_g, run.opt_d, real)
        return metrics | {"real_mean": real.mean()}  # a metric of the learner's own

    root = tmp_path / "data"
    run = train(new_run(tiny_config(root, "mlp")), step=my_step, data=tiny_data(root))
    assert calls == [0, 1, 2, 3, 4, 5]  # every batch of both epochs, in order
    assert len(run.history["real_mean"]) == len(run.history["step"]) == 6


def test_a_learners_step_is_never_replayed_from_a_cuda_graph(tmp_path, monkeypatch):
    phases = []
    monkeypatch.setattr(training, "with_fast_paths", lambda run, step, phase=None: phases.append(phase))
    run = new_run(tiny_config(tmp_path, "wgan-gp"))
    training.make_step(run)
    training.make_step(run, step=lambda run, real, labels: {})
    assert phases[0] is not None and phases[1] is None


def notebook_code(name: str, until: str) -> list[str]:
    """The code cells of a notebook up to and including the first that contains ``until``."""
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    cells = [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    end = next(i for i, source in enumerate(cells) if until in source)
    return cells[1 : end + 1]  # without the setup cell: the package is importable here


def run_cells(cells: list[str], tmp_path: Path, monkeypatch) -> dict:
    """Execute notebook cells in one namespace, as a kernel would, in the small-run mode."""
    monkeypatch.setenv("FASHION_GAN_SMALL_RUN", "1")
    monkeypatch.chdir(ROOT / "notebooks")
    namespace: dict = {}
    for source in cells:
        exec(compile(source, "<cell>", "exec"), namespace)
        if "config_panel(" in source:  # runs go to a scratch folder, not generated_samples/
            namespace["panel"].result.output_dir = str(tmp_path)
    return namespace


def test_editing_the_penalty_cell_of_chapter_04_changes_what_trains(tmp_path, monkeypatch):
    """A learner edits gradient_penalty, re-runs it and the training cell: the edit trains."""
    cells = notebook_code("04_wgan_gp.ipynb", until="train(run, step=wgan_gp_train_step")
    penalty = next(i for i, c in enumerate(cells) if "def gradient_penalty(" in c)
    edited = cells[penalty].replace(
        "    return ((norms - 1) ** 2).mean()",
        "    PENALTY_CALLS.append(1)\n    return ((norms - 1) ** 2).mean() * 0",
    )
    assert edited != cells[penalty]
    cells = [*cells[:penalty], "PENALTY_CALLS = []", edited, *cells[penalty + 1 :]]
    namespace = run_cells(cells, tmp_path, monkeypatch)
    run = namespace["run"]
    assert run.step > 0 and len(namespace["PENALTY_CALLS"]) >= run.step  # once per critic step at least
    assert all(value == 0 for value in run.history["gp"])  # the edited penalty is what was recorded


def test_editing_the_step_cell_of_chapter_02_changes_what_trains(tmp_path, monkeypatch):
    cells = notebook_code("02_mlp_gan.ipynb", until="train(run, step=gan_train_step")
    step = next(i for i, c in enumerate(cells) if "def gan_train_step(" in c)
    seen = "    STEPS_SEEN.append(run.step)\n    return gan_step("
    cells[step] = cells[step].replace("    return gan_step(", seen)
    cells.insert(step, "STEPS_SEEN = []")
    namespace = run_cells(cells, tmp_path, monkeypatch)
    assert namespace["STEPS_SEEN"] == list(range(namespace["run"].step))


def test_chapter_05s_measurement_shows_the_average_wobbling_less_than_the_last_weights(tmp_path, monkeypatch):
    """What chapter 05 says of the weight average, on a short real run measured by the chapter's own code."""
    from itertools import pairwise

    from gan_helpers.config import TrainConfig
    from gan_helpers.training import train

    cells = notebook_code("05_visualization.ipynb", until="def measure_both")
    namespace = run_cells([cells[0], cells[-1]], tmp_path, monkeypatch)  # imports, then the measuring cell
    config = TrainConfig.for_model("dcgan", num_epochs=1, subset=0.04, log_every=3, quality_every=0,
                                   output_dir=str(tmp_path))  # fmt: skip
    train(config, on_log=namespace["measure_both"], progress=False)
    measured = namespace["along_the_way"]

    def change(values):
        return sum(abs(b - a) for a, b in pairwise(values)) / (len(values) - 1)

    assert len(measured["batch"]) >= 10
    assert change(measured["average of the weights"]) < change(measured["last weights"])
