"""Re-execute notebooks in the small-run mode and keep only the outputs nbval checks.

    python tools/refresh_notebooks.py notebooks/03_dcgan.ipynb [...]

Cells marked ``# NBVAL_CHECK_OUTPUT`` keep their (deterministic) output, which nbval then
compares on every test run; all other outputs are removed so diffs stay readable.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

MARKER = "# NBVAL_CHECK_OUTPUT"


def refresh(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    os.environ["FASHION_GAN_SMALL_RUN"] = "1"
    NotebookClient(notebook, timeout=900, resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if MARKER not in cell.source:
            cell.outputs = []
            cell.execution_count = None
        else:
            cell.outputs = [o for o in cell.outputs if o.get("output_type") != "display_data"]
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, path)
    print(f"refreshed {path}")


if __name__ == "__main__":
    for name in sys.argv[1:] or sorted(map(str, Path("notebooks").glob("*.ipynb"))):
        refresh(Path(name))
