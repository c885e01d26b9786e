"""The IDX file format of (Fashion-)MNIST: a 4-byte magic number, the sizes, then raw bytes.

Magic number: two zero bytes, a type code (0x08 = unsigned byte) and the number of dimensions,
so 2051 (0x0803) for 3-d image files and 2049 (0x0801) for 1-d label files.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Parse an unsigned-byte IDX file (plain or ``.gz``) into a numpy array of its shape."""
    path = Path(path)
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a readable gzip file ({error}). {_fix(path)}") from error
    if len(data) < 4:
        raise ValueError(f"{path} is truncated: {len(data)} bytes, no IDX header. {_fix(path)}")
    zeros, type_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zeros != 0 or type_code != UBYTE or not 1 <= ndim <= 3:
        magic = int.from_bytes(data[:4], "big")
        raise ValueError(
            f"{path} has magic number {magic}, expected 2049 (labels) or 2051 (images): "
            f"it is not an unsigned-byte IDX file. {_fix(path)}"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated inside its header. {_fix(path)}")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        state = "truncated" if len(data) < expected else "longer than its header says"
        raise ValueError(
            f"{path} is {state}: {len(data)} bytes, expected {expected} for shape {shape}. {_fix(path)}"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.tobytes()
    path = Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _fix(path: Path) -> str:
    return f"Delete {path.parent} and run again to fetch a fresh copy of the dataset."
