"""Where data and run outputs go: the repository's folders when run from a checkout."""

from __future__ import annotations

from pathlib import Path


def project_dir() -> Path:
    """The repository root for a checkout (so notebooks/ and the CLI share data/), else the cwd."""
    candidate = Path(__file__).resolve().parent.parent
    if (candidate / "pyproject.toml").is_file() and (candidate / "notebooks").is_dir():
        return candidate
    return Path.cwd()


DATA_DIR = project_dir() / "data"
SAMPLES_DIR = project_dir() / "generated_samples"
