"""Run inside the Colab-stack environment: execute one notebook with papermill, as a teacher's
headless job does, and print, as JSON, every stderr text and error its cells wrote.
Usage: python run_notebook.py NOTEBOOK"""

from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path

import nbformat
import papermill

CELL_TIMEOUT_S = 300  # small-run cells take seconds to two minutes on a busy CPU: five is a hang


def problems_of(notebook: nbformat.NotebookNode) -> list[str]:
    """Each error and each non-empty stderr text the executed cells wrote."""
    problems = []
    for number, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                problems.append(f"cell {number}: {output.ename}: {output.evalue}")
            elif output.output_type == "stream" and output.name == "stderr" and output.text.strip():
                problems.append(f"cell {number} wrote to stderr: {output.text.strip()[:500]}")
    return problems


def main(path: Path) -> None:
    executed = path.with_name(f"{path.stem}.executed.ipynb")
    with contextlib.suppress(papermill.PapermillExecutionError):  # the error is in the outputs read below
        papermill.execute_notebook(
            str(path), str(executed), kernel_name="python3", cwd=str(path.parent), progress_bar=False,
            execution_timeout=CELL_TIMEOUT_S,
        )  # fmt: skip
    print(json.dumps(problems_of(nbformat.read(executed, as_version=4))))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
