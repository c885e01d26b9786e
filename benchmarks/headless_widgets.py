"""How often a headless runner loses a widget cell's reply: ``ipywidgets.interactive`` against
the course's ``Interactive``, side by side, each cell run many times through nbclient.

    python benchmarks/headless_widgets.py                 # 100 cells of each, 15 s cell timeout
    python benchmarks/headless_widgets.py --cells 20 --timeout 10

nbclient waits for each cell's reply; with its default ``timeout=None`` a lost reply is a wait
that never ends. Here every cell gets ``--timeout`` seconds, and a cell that takes them all is a
reply that was there and not seen (the cells themselves take a fraction of a second): the
count of such cells is the count of hangs a user's ``jupyter nbconvert --execute`` would meet.
"""

from __future__ import annotations

import argparse
import sys
import time

import nbclient
import nbformat
from nbclient.exceptions import CellTimeoutError

SETUP = "import ipywidgets as widgets\nfrom gan_helpers.display import Interactive"
SHOW = "lambda frame: print('frame', frame), frame=widgets.IntSlider(3)"
CELLS = {  # the same slider and function; only the way the output reaches the page differs
    "ipywidgets.interactive": f"widgets.interactive({SHOW})",
    "gan_helpers Interactive": f"Interactive({SHOW})",
}


def lost_replies(cell: str, count: int, timeout: int) -> tuple[int, float]:
    """Cells of ``count`` whose reply came only at the timeout (or never), and the median time of the rest."""
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP)])
    notebook.cells += [nbformat.v4.new_code_cell(cell) for _ in range(count)]
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=timeout)
    lost, times = 0, []
    with client.setup_kernel():
        client.execute_cell(notebook.cells[0], 0)
        for index, widget_cell in enumerate(notebook.cells[1:], start=1):
            start = time.monotonic()
            try:
                client.execute_cell(widget_cell, index)
            except CellTimeoutError:
                lost += 1
                continue
            took = time.monotonic() - start
            lost += took >= timeout * 0.95  # seen only when the timeout's own poll looked again
            times.append(took)
    times.sort()
    return lost, times[len(times) // 2] if times else float("nan")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cells", type=int, default=100, help="widget cells per variant (default 100)")
    parser.add_argument("--timeout", type=int, default=15, help="seconds a cell may wait (default 15)")
    args = parser.parse_args(argv)
    print(f"{args.cells} cells per variant, nbclient {nbclient.__version__}, cell timeout {args.timeout} s")
    print(f"{'widget':26}{'replies lost':>14}{'median cell s':>15}")
    for name, cell in CELLS.items():
        lost, median = lost_replies(cell, args.cells, args.timeout)
        print(f"{name:26}{lost:>14}{median:>15.3f}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
