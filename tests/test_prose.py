"""What the chapters say stays true: their settings are shown as code and are the package's
defaults, they quote no timings of another machine, and every result number in their prose
comes from a table the tests check (the README's, benchmarks/README.md's) or is printed by a
checked cell of the chapter itself."""

from __future__ import annotations

import re

import nbformat
import pytest

from gan_helpers.config import TrainConfig
from gan_helpers.data import project_dir
from gan_helpers.kinds import KINDS

ROOT = project_dir()
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
NUMBER = re.compile(r"(?<![\w.\-])(\d+\.\d+)(?![\w.])")
TIMING = re.compile(r"\b\d+(\.\d+)?\s(s|ms|min|minutes|seconds|hours?)\b|\bH100\b|\bH200\b|\b\d-core\b")
# Numbers that are definitions or mathematics, not results: where each is, and why.
NOT_RESULTS = {
    ("02_mlp_gan", "0.01"),  # sigma(-4.6): the saturating loss's gradient at a confident logit
    ("04_wgan_gp", "0.693"),  # log 2, Jensen-Shannon's value for disjoint supports
    ("07_gans_in_two_dimensions", "0.95"),  # the threshold that defines "saturated"
}


def prose(notebook) -> list[tuple[int, str]]:
    """Each markdown cell's text without maths, code, links' targets and HTML tags."""
    cells = []
    for number, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            text = re.sub(
                r"\$\$.*?\$\$|\$[^$]*\$|```.*?```|`[^`]*`|\]\([^)]*\)|<[^>]+>", " ", cell.source, flags=re.S
            )
            cells.append((number, text))
    return cells


def table_numbers() -> list[float]:
    text = " ".join((ROOT / name).read_text() for name in ("README.md", "benchmarks/README.md"))
    return [float(value) for value in re.findall(r"\d+\.\d+", text)]


def checked_outputs(notebook) -> str:
    """The text of the chapter's committed outputs: cells marked NBVAL_CHECK_OUTPUT, which nbval reruns."""
    return " ".join(
        output.get("text", "")
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.outputs
    )


def rounds_to(value: str, candidates: list[float]) -> bool:
    digits = len(value.split(".")[1])
    return any(abs(round(candidate, digits) - float(value)) < 1e-9 for candidate in candidates)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_prose_quotes_no_timings_of_another_machine(path):
    found = [
        (number, match.group(0))
        for number, text in prose(nbformat.read(path, as_version=4))
        for match in TIMING.finditer(text)
    ]
    assert found == [], (
        f"{path.name}: print the time in a cell or point to the README's dated tables: {found}"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_result_number_comes_from_a_checked_table_or_output(path):
    notebook = nbformat.read(path, as_version=4)
    sources = table_numbers() + [float(value) for value in re.findall(r"\d+\.\d+", checked_outputs(notebook))]
    unsourced = [
        (number, value)
        for number, text in prose(notebook)
        for value in NUMBER.findall(text)
        if (path.stem, value) not in NOT_RESULTS and not rounds_to(value, sources)
    ]
    assert unsourced == [], f"{path.name}: numbers in no checked table or output (cell, value): {unsourced}"


@pytest.mark.parametrize("kind", [kind for kind in KINDS.values()])
def test_each_chapter_shows_the_settings_it_trains_with_and_they_are_the_defaults(kind):
    notebook = nbformat.read(ROOT / "notebooks" / f"{kind.chapter}.ipynb", as_version=4)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    panels = [i for i, c in enumerate(code) if "config_panel(config)" in c.source]
    assert len(panels) == 1, f"{kind.chapter}: one cell should build the panel from a visible config"
    settings = code[panels[0] - 1]  # the settings, one per line, in the cell papermill's -p replaces
    assert "parameters" in settings.metadata.get("tags", []), f"{kind.chapter}: settings cell not tagged"
    cells = [code[panels[0]].source]
    namespace = {"TrainConfig": TrainConfig, "config_panel": lambda config: None}
    exec(settings.source, namespace)
    exec(cells[0], namespace)
    shown = namespace["config"]
    assert shown == TrainConfig.for_model(kind.name, run_name=shown.run_name)
    for name in kind.defaults:  # every setting the kind's defaults decide is written out in the cell
        assert f"{name}=" in cells[0], f"{kind.chapter} does not show {name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_training_a_chapter_starts_shows_a_progress_bar(path):
    """A learner who starts a long training sees it move: no chapter turns the bar off."""
    notebook = nbformat.read(path, as_version=4)
    silent = [number for number, cell in enumerate(notebook.cells)
              if cell.cell_type == "code" and re.search(r"progress\s*=\s*False", cell.source)]  # fmt: skip
    assert silent == [], f"{path.name}: cells that train without a progress bar: {silent}"
