"""A benchmark's JSON record, which two processes may add to at once: each change is made to the
record as it is on disk at that moment, under a lock, and the file is replaced whole, so neither
writer loses the other's runs and a reader never sees half a file."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gan_helpers.files import atomic_write


def read_record(path: Path, empty: Any) -> Any:
    """The record at ``path``, ``empty`` if there is none yet; a file that is not JSON stops the
    benchmark with one line before anything runs."""
    if not path.is_file():
        return empty
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise SystemExit(
            f"{path} is not a JSON record ({error}); move it away or give another file"
        ) from None


def check_writable(path: Path) -> None:
    """Stop with one line, before any run, if the record could not be written at the end of one."""
    if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
        raise SystemExit(f"cannot write the record {path}: its folder is missing or read-only")


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on the record's folder (POSIX; elsewhere writers are not kept apart)."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    handle = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)  # waits while another writer holds it
        yield
    finally:
        os.close(handle)  # closing releases the lock


def update_record(path: Path, change: Callable[[Any], Any], empty: Any) -> Any:
    """Apply ``change`` to the record as it is on disk now and write the result; returns it."""
    with locked(path.parent):
        record = change(read_record(path, empty))
        text = json.dumps(record, indent=1) + "\n"
        atomic_write(path, lambda file: file.write(text.encode()))
    return record
