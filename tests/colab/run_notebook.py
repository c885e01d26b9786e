"""Run inside the Colab-stack environment: execute one notebook with nbclient and print, as JSON,
every stderr text and error its cells wrote. Usage: python run_notebook.py NOTEBOOK"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from queue import Empty

import nbclient
import nbformat
from jupyter_core.utils import run_sync

SLICE_S = 1.0  # how long one wait on a channel lasts before the socket is polled afresh


def in_slices(get_msg: Callable[..., Awaitable[dict]]) -> Callable[..., Awaitable[dict]]:
    """``get_msg`` that waits in short slices up to the same deadline.

    nbclient's one long wait on a kernel channel can miss a message that has already arrived
    (jupyter/nbclient#312: seen on cells that open widgets, with the kernel idle), and then sits
    out the whole cell timeout; a fresh poll each slice sees the message within a second.
    """

    async def get(timeout: float | None = None) -> dict:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = SLICE_S if deadline is None else min(SLICE_S, max(0.0, deadline - time.monotonic()))
            try:
                return await get_msg(timeout=wait)
            except Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    raise

    return get


class SlicedWaitClient(nbclient.NotebookClient):
    """A ``NotebookClient`` whose waits on the shell and IOPub channels go in slices."""

    async def async_start_new_kernel_client(self):
        client = await super().async_start_new_kernel_client()
        for channel in (client.shell_channel, client.iopub_channel):
            channel.get_msg = in_slices(channel.get_msg)
        return client

    start_new_kernel_client = run_sync(async_start_new_kernel_client)  # the base binds its own


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
    notebook = nbformat.read(path, as_version=4)
    SlicedWaitClient(
        notebook,
        timeout=300,  # small-run cells take seconds to two minutes on a busy CPU: five is a hang
        kernel_name="python3",
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    print(json.dumps(problems_of(notebook)))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
