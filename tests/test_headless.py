"""The chapters run headless as a teacher's runner runs them: nbclient (``jupyter nbconvert
--execute``) with its default settings, no cell timeout, and papermill with injected parameters.

A widget that captures its output makes nbclient play the front end and answer on the kernel's
shell channel while it waits there for the cell's reply; now and then it then misses the reply
and waits forever (README, *Troubleshooting*). The course's widgets show their output without
that capture (``gan_helpers.display.Interactive``), which the first test checks directly.
"""

from __future__ import annotations

import json
import re
import threading
import time

import nbclient
import nbformat
import papermill
import pytest
from nbclient.output_widget import OutputWidget

from gan_helpers.data import project_dir
from gan_helpers.notebook import SMALL_RUN_ENV

NOTEBOOKS = sorted((project_dir() / "notebooks").glob("*.ipynb"))

WIDGET_CELLS = [
    "import matplotlib.pyplot as plt\nimport ipywidgets as widgets\n%matplotlib inline",
    "from gan_helpers.config import TrainConfig\nfrom gan_helpers.panels import class_picker, config_panel\n"
    "config_panel(TrainConfig.for_model('sngan'))",
    "from gan_helpers.weights import load_pretrained\n"
    "class_picker(load_pretrained('cgan'), [str(n) for n in range(10)], variants=4)",
    "from gan_helpers.plane import PointConfig, train_points\n"
    "from gan_helpers.plane_views import frame_slider, point_panel\n"
    "run = train_points(PointConfig(steps=20, num_frames=2, num_samples=200), progress=False)\n"
    "display(point_panel(run.config))\nframe_slider({'a': run, 'b': run})",
    "from gan_helpers.display import Interactive\ndef draw(frame):\n    print('frame', frame)\n"
    "    plt.plot([0, frame])\n    plt.show()\nInteractive(draw, frame=widgets.IntSlider(3, max=5))",
]


def widget_outputs(notebook: nbformat.NotebookNode) -> list[dict]:
    """The outputs that the notebook's saved widget state holds in its Output widgets."""
    state = notebook.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    return [
        output
        for model in state.get("state", {}).values()
        if model.get("model_name") == "OutputModel"
        for output in model.get("state", {}).get("outputs", [])
    ]


def test_the_courses_widgets_never_make_nbclient_answer_on_the_shell_channel(monkeypatch):
    """nbclient's stand-in for a front end sends a message back to the kernel each time it
    captures a widget's output; none of the course's widgets gives it one, and what they print
    and draw is still in the saved notebook (the widgets' state)."""
    answers = []
    monkeypatch.setattr(OutputWidget, "send", lambda self, *args, **kwargs: answers.append(self.comm_id))
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in WIDGET_CELLS])
    nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300).execute()
    assert answers == [], f"nbclient answered {len(answers)} captured outputs on the shell channel"
    shown = widget_outputs(notebook)
    texts = "".join(output.get("text", "") for output in shown)
    for shown_text in ("hinge loss, spectral norm", "non-saturating on the ring", "frame 3"):
        assert shown_text in texts
    pictures = [output for output in shown if "image/png" in output.get("data", {})]
    assert len(pictures) >= 3  # the class picker, the frame slider and the drawing: base64 PNGs
    assert all(output["data"]["image/png"].startswith("iVBOR") for output in pictures)


class NamingClient(nbclient.NotebookClient):
    """nbclient as it is, noting which cell runs so that an outer time limit can name it."""

    running: tuple[int, float] | None = None

    async def async_execute_cell(self, cell, cell_index, *args, **kwargs):
        self.running = (cell_index, time.monotonic())
        result = await super().async_execute_cell(cell, cell_index, *args, **kwargs)
        self.running = None
        return result


def execute_within(client: NamingClient, limit_s: float) -> None:
    """``client.execute()``; past ``limit_s`` the kernel is shut down and the test fails naming the
    cell that was running, so a hang is a failure and not a CI run that never ends."""
    stalled = []

    def stop() -> None:
        if client.running is not None:
            index, started = client.running
            stalled.append(f"cell {index} had run {time.monotonic() - started:.0f} s")
            client.km.shutdown_kernel(now=True)

    timer = threading.Timer(limit_s, stop)
    timer.start()
    try:
        client.execute()
    except nbclient.exceptions.DeadKernelError:
        pytest.fail(f"stopped after {limit_s:.0f} s: {stalled[0] if stalled else 'the kernel died'}")
    finally:
        timer.cancel()


def test_chapter_07_runs_at_full_size_under_nbclients_defaults(monkeypatch):
    """``jupyter nbconvert --execute`` of chapter 07 as a user starts it: full size, no timeout."""
    monkeypatch.delenv(SMALL_RUN_ENV, raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "2")  # the prose's ranges are for two CPU threads
    path = project_dir() / "notebooks" / "07_gans_in_two_dimensions.ipynb"
    notebook = nbformat.read(path, as_version=4)
    client = NamingClient(notebook, resources={"metadata": {"path": str(path.parent)}})  # timeout=None
    execute_within(client, limit_s=900)
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert [output for output in outputs if output.output_type == "error"] == []
    printed = "".join(output.get("text", "") for output in outputs if output.output_type == "stream")
    check_the_stated_numbers(notebook, printed)


def stated(notebook, pattern: str) -> tuple[int, ...]:
    """The numbers ``pattern`` finds in the chapter's prose (markdown cells)."""
    text = " ".join(" ".join(c.source.split()) for c in notebook.cells if c.cell_type == "markdown")
    found = re.search(pattern, text)
    assert found, f"the chapter no longer says {pattern!r}"
    return tuple(int(group) for group in found.groups())


def check_the_stated_numbers(notebook, printed: str) -> None:
    """Chapter 07's prose states ranges for its seed-0 runs (rounding differs between CPUs, and
    the game is chaotic): what this full-size run printed lies in them."""
    gan_prose = r"non-saturating GAN ends with (\d) or (\d) of 8 modes and (\d+)–(\d+)% of its points high"
    low_modes, high_modes, low_quality, high_quality, most = stated(
        notebook, gan_prose + r" quality.*never covers more than (\d)\."
    )
    gan = r"non-saturating GAN .*?: (\d)/8 modes, (\d+)% high quality; last 11 snapshots: \d-(\d) modes"
    covered, quality, late_most = (int(group) for group in re.search(gan, printed).groups())
    assert low_modes <= covered <= high_modes and late_most <= most and low_quality <= quality <= high_quality
    modes, low, high = stated(notebook, r"WGAN-GP ends with all (\d) modes and (\d+)–(\d+)% high")
    wgan = re.search(r"WGAN-GP .*?: (\d)/8 modes, (\d+)% high", printed)
    covered, quality = (int(group) for group in wgan.groups())
    assert covered == modes and low <= quality <= high
    low, high = stated(notebook, r"The discriminator is saturated on (\d+)–(\d+)% of the grid")
    saturated = int(re.search(r"above 0.95 on (\d+)% of the plane", printed).group(1))
    assert low <= saturated <= high


PARAMETERS = {  # one setting changed for each chapter that has a parameters cell
    "02_mlp_gan": {"seed": 3},
    "03_dcgan": {"seed": 3},
    "04_wgan_gp": {"n_critic": 3},
    "05_visualization": {"num_epochs": 1},
    "06_conditional_gan": {"seed": 3},
    "07_gans_in_two_dimensions": {"seed": 3},
    "08_stabilizing_gans": {"r1_weight": 1.0},
    "10_your_own_images": {"augment": "diff"},
}


def has_parameters_cell(path) -> bool:
    cells = nbformat.read(path, as_version=4).cells
    return any("parameters" in cell.metadata.get("tags", []) for cell in cells)


def test_the_chapters_with_a_run_and_only_they_have_a_parameters_cell():
    assert {path.stem for path in NOTEBOOKS if has_parameters_cell(path)} == set(PARAMETERS)


@pytest.mark.parametrize("stem", sorted(PARAMETERS))
def test_papermill_injects_each_chapters_parameters_and_the_run_takes_them(stem, tmp_path):
    """``-p NAME VALUE`` lands after the parameters cell, and the panel's config is built from it.

    Every chapter also runs through papermill start to end on Colab's stack (``pytest -m colab``);
    chapter 03 runs here too, below. Here the injected notebook is prepared, not executed.
    """
    path = project_dir() / "notebooks" / f"{stem}.ipynb"
    parameters = PARAMETERS[stem]
    prepared = papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters=parameters, prepare_only=True, kernel_name="python3"
    )
    cells = [cell for cell in prepared.cells if cell.cell_type == "code"]
    settings = next(i for i, cell in enumerate(cells) if "parameters" in cell.metadata.get("tags", []))
    injected = cells[settings + 1]
    assert "injected-parameters" in injected.metadata.get("tags", [])
    namespace = {"full_or_small": lambda full, small: full}
    for cell in cells[settings : settings + 2]:
        exec(cell.source, namespace)
    assert all(namespace[name] == value for name, value in parameters.items())
    built = cells[settings + 2].source
    assert all(f"{name}={name}" in built for name in parameters), "the config line does not use them"


def test_chapter_03_runs_through_papermill_with_a_parameter_and_the_panel_shows_it(tmp_path):
    path = project_dir() / "notebooks" / "03_dcgan.ipynb"
    executed = papermill.execute_notebook(
        str(path), str(tmp_path / path.name), parameters={"seed": 3}, cwd=str(path.parent),
        kernel_name="python3", progress_bar=False,
    )  # fmt: skip
    texts = "".join(output.get("text", "") for output in widget_outputs(executed))
    assert "seed 3" in texts, texts[:300]


def test_a_bad_injected_value_is_the_projects_one_line_refusal(tmp_path):
    path = project_dir() / "notebooks" / "03_dcgan.ipynb"
    with pytest.raises(papermill.PapermillExecutionError) as raised:
        papermill.execute_notebook(
            str(path), str(tmp_path / path.name), parameters={"num_epochs": 0}, cwd=str(path.parent),
            kernel_name="python3", progress_bar=False,
        )  # fmt: skip
    refusal = "SettingError: TrainConfig.num_epochs = 0: must be an integer from 1 to 10000"
    assert raised.value.traceback == [refusal]


@pytest.mark.parametrize("runner", ["nbconvert", "papermill"])
def test_the_timing_tool_runs_a_chapter_through_the_runners_command_and_keeps_the_record(
    runner, tmp_path, capsys
):
    """``benchmarks/headless_runs.py``: the user's command line, one row per run, not run twice."""
    from benchmarks import headless_runs

    record = str(tmp_path / "t.json")
    arguments = ["01", "--small", "--runner", runner, "--threads", "1", "--record", record,
                 "--output-dir", str(tmp_path)]  # fmt: skip
    headless_runs.main(arguments)
    (row,) = json.loads((tmp_path / "t.json").read_text())
    assert (row["chapter"], row["runner"], row["small"], row["returncode"]) == (
        "01_data_loading",
        runner,
        True,
        0,
    )
    executed = nbformat.read(row["notebook"], as_version=4)
    assert [cell.execution_count for cell in executed.cells if cell.cell_type == "code"][-1] is not None
    headless_runs.main(arguments)
    assert capsys.readouterr().out.splitlines()[-1].endswith("already recorded")
    headless_runs.main(["--table", "--small", "--record", record])
    assert f"| chapter | {runner} |" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no chapter 11"):
        headless_runs.main(["11", "--record", record])


def test_the_timing_tool_runs_a_failed_chapter_again_and_keeps_the_other_series_rows(tmp_path, monkeypatch):
    from benchmarks import headless_runs
    from benchmarks.records import update_record

    record = tmp_path / "t.json"
    failed = {
        "chapter": "01_data_loading",
        "runner": "papermill",
        "small": True,
        "threads": 1,
        "returncode": 1,
    }
    record.write_text(json.dumps([failed]))
    other = {**failed, "runner": "nbconvert", "returncode": 0}

    def run_chapter(notebook, runner, output_dir, small, threads):
        update_record(record, lambda rows: [*rows, other], [])  # the other series finishes meanwhile
        return {**failed, "returncode": 0, "seconds": 1.0}

    monkeypatch.setattr(headless_runs, "run_chapter", run_chapter)
    headless_runs.main(["01", "--small", "--runner", "papermill", "--threads", "1", "--record", str(record)])
    rows = json.loads(record.read_text())
    assert sorted((row["runner"], row["returncode"]) for row in rows) == [("nbconvert", 0), ("papermill", 0)]
