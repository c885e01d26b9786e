"""The first code cell of every notebook, which makes it run on Colab as well as in a checkout.

``REPOSITORY`` is the one place the project's URL lives: ``tools/refresh_notebooks.py --setup``
writes ``setup_cell()`` into each notebook, and the tests check that every notebook and the
README agree with it. Change the URL here (for a fork), then run that command.
"""

from __future__ import annotations

REPOSITORY = "https://github.com/fashion-gan/fashion-gan"
MARKER = "# Setup: Colab or a fresh checkout"

_TEMPLATE = '''{marker}. Makes `gan_helpers` importable; an installed torch is never touched.
import importlib.util
import pathlib
import subprocess
import sys

if importlib.util.find_spec("gan_helpers") is None:
    if pathlib.Path("../gan_helpers").is_dir():  # a checkout without `pip install -e .`
        sys.path.insert(0, str(pathlib.Path("..").resolve()))
    else:  # Colab: torch, torchvision and the rest are there already, so install only our package
        url = "git+{repository}"
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", url], check=True)
        importlib.invalidate_caches()'''


def setup_cell(repository: str = REPOSITORY) -> str:
    """The source of the setup cell for ``repository``."""
    return _TEMPLATE.format(marker=MARKER, repository=repository)


def colab_url(notebook: str, repository: str = REPOSITORY, branch: str = "main") -> str:
    """The link that opens ``notebooks/<notebook>`` of the repository in Colab."""
    if not repository.startswith("https://github.com/"):
        raise ValueError(f"Colab opens GitHub repositories only, not {repository!r}")
    path = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook}"
