"""Re-execute notebooks in the small-run mode and keep only the outputs nbval checks.

    python tools/refresh_notebooks.py notebooks/03_dcgan.ipynb [...]
    python tools/refresh_notebooks.py --setup        # only (re)write each notebook's setup cell

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their (deterministic) output, which nbval then
compares on every test run; all other outputs are removed so diffs stay readable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from gan_helpers.notebook import SETUP_MARKER, setup_cell

MARKER = "# NBVAL_CHECK_OUTPUT"


def write_setup_cell(path: Path) -> None:
    """Put ``gan_helpers.notebook.setup_cell()`` first among the code cells, replacing an older one."""
    notebook = nbformat.read(path, as_version=4)
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    if code and notebook.cells[code[0]].source.startswith(("# Setup:", SETUP_MARKER)):
        notebook.cells[code[0]].source = setup_cell()
    else:
        position = code[0] if code else len(notebook.cells)
        notebook.cells.insert(position, nbformat.v4.new_code_cell(setup_cell()))
    nbformat.write(notebook, path)
    print(f"setup cell written to {path}")


def refresh(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    os.environ["FASHION_GAN_SMALL_RUN"] = "1"
    NotebookClient(notebook, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        cell.metadata.pop("execution", None)  # timestamps: noise in every diff
        if MARKER not in cell.source:
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "display_data"]
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"refreshed {path}")


if __name__ == "__main__":
    arguments = [a for a in sys.argv[1:] if a != "--setup"]
    action = write_setup_cell if "--setup" in sys.argv else refresh
    for name in arguments or sorted(map(str, Path("notebooks").glob("*.ipynb"))):
        action(Path(name))
