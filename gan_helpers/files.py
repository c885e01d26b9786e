"""Files that are never half written, and a run folder that holds one run at a time: atomic
writes, a clear error for a full disk, the folder's lock, and the removal of an old run's files."""

from __future__ import annotations

import errno
import io
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import torch

from gan_helpers.checks import RefusalError


class DiskFullError(OSError):
    """A file did not fit on its disk; the file it was to replace is kept as it was."""


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None], size: int = 0) -> Path:
    """Call ``write(file)`` on a temporary file, then rename it to ``path``: never half a file.

    A reader sees the old file or the new one; a crash leaves a ``*.tmp`` file, which the next
    training in that folder removes. ``size`` (bytes, when known) is checked against the free
    space first; a full disk is a ``DiskFullError`` that names the file and the space needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(path.parent).free
    if size > free:
        raise disk_full(path, size, free)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
        os.chmod(temporary, 0o644)  # mkstemp makes files private; these are ordinary data
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno == errno.ENOSPC:
            raise disk_full(path, size, shutil.disk_usage(path.parent).free) from error
        raise
    return path


def disk_full(path: Path, size: int, free: int) -> DiskFullError:
    """The one-line error for a file that does not fit."""
    need = f"{size / 1e6:.1f} MB needed, " if size else ""
    kept = f"; the previous {path.name} is kept" if path.exists() else ""
    return DiskFullError(
        f"cannot write {path}: the disk is full ({need}{free / 1e6:.1f} MB free){kept}. Free some space "
        "or write elsewhere (--output-dir)",
    )


def atomic_save(obj: dict, path: str | Path) -> Path:
    """``torch.save`` through ``atomic_write``, serialised first so its size is known."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    data = buffer.getbuffer()
    return atomic_write(path, lambda file: file.write(data), size=len(data))


RUN_FILES = ("checkpoint.pt", "history.json", "losses.png", "epoch_*.png", "best.png", "*.tmp")


@contextmanager
def run_folder(run, overwrite: bool) -> Iterator[None]:
    """Make sure the run folder can be written and holds no other run; lock it while training."""
    folder = run.run_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / ".lock", "a+")  # noqa: SIM115  (held open until training ends)
    except OSError as error:
        problem = f"cannot write the run into {folder} ({error.strerror or error})"
        raise RefusalError(
            f"{problem}; choose another output_dir or run_name",
            f"{problem}; choose another --output-dir or --run-name",
        ) from error
    with lock:
        take_lock(lock, folder)
        checkpoint = run.checkpoint_path
        ours = run.source is not None and run.source.resolve() == checkpoint.resolve()
        if checkpoint.exists() and not ours and not overwrite:
            holds = f"{folder} already holds a run ({checkpoint.name}); continue it with"
            raise RefusalError(
                f"{holds} load_run({str(checkpoint)!r}), or replace it with overwrite=True, or choose "
                "another run_name",
                f"{holds} --resume {checkpoint}, or replace it with --overwrite, or choose another "
                "--run-name",
            )
        for stale in folder.glob("*.tmp"):  # left by a process killed while saving; we hold the lock
            stale.unlink(missing_ok=True)
        yield


def take_lock(lock, folder: Path) -> None:
    """An OS lock on the run folder: a second training into it is refused, naming the first."""
    try:
        import fcntl  # POSIX only: elsewhere two trainings into one folder are not prevented
    except ImportError:
        return
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        problem = f"{folder} is in use by another training ({holder}); wait for it to end, or choose another"
        raise RefusalError(f"{problem} run_name", f"{problem} --run-name") from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"process {os.getpid()}")
    lock.flush()


def remove_run_files(folder: Path, keep: Path | None = None) -> None:
    """Delete what an earlier run wrote into ``folder`` (``overwrite``), except ``keep``."""
    for pattern in RUN_FILES:
        for path in folder.glob(pattern):
            if keep is None or path.resolve() != keep.resolve():
                path.unlink(missing_ok=True)
