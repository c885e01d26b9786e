"""Every chapter on Colab's own stack: ipywidgets 7.7, IPython 7.34 and ipykernel 5.5 (what
Colab's runtime pins), the package installed from a git URL with ``--no-deps`` as the setup cell
does, and each notebook run alone in an empty folder outside any checkout, by papermill with its
default settings but a cell timeout (a hang fails the test instead of stalling CI).

Run with ``pytest -m colab`` (CI does). It builds a fresh virtual environment (about two minutes
from a package mirror); ``FASHION_GAN_COLAB_VENV=PATH`` reuses one built before.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gan_helpers.data import project_dir

pytestmark = pytest.mark.colab

# Colab's pins, and the torch this project pins (requirements.txt).
COLAB_STACK = ["ipywidgets==7.7.1", "ipython==7.34.0", "ipykernel==5.5.6"]
TORCH = ["torch==2.14.1", "torchvision==0.29.1"]
OTHERS = ["matplotlib", "numpy", "tqdm", "nbclient", "nbformat", "papermill"]  # papermill: the runner
NOTEBOOKS = sorted((project_dir() / "notebooks").glob("*.ipynb"))
RUNNER = Path(__file__).with_name("run_notebook.py")


def pip(python: Path, *args: str) -> None:
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args], check=True
    )


@pytest.fixture(scope="session")
def colab_python(tmp_path_factory) -> Path:
    """The Python of an environment with Colab's stack and the package installed from git."""
    reuse = os.environ.get("FASHION_GAN_COLAB_VENV")
    python = build_stack(Path(reuse) if reuse else tmp_path_factory.mktemp("colab") / "venv")
    pip(python, "--no-deps", "--force-reinstall", f"git+file://{snapshot(tmp_path_factory.mktemp('repo'))}")
    return python


def build_stack(venv: Path) -> Path:
    """A virtual environment with Colab's stack at ``venv`` (kept if it is there); its Python."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip(python, *TORCH, *COLAB_STACK, *OTHERS)
    return python


def snapshot(folder: Path) -> Path:
    """A git repository holding the checkout's files as they are now (committed or not)."""
    root = project_dir()
    listed = (
        subprocess.run(
            ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root, capture_output=True, check=True
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, listed):
        if (root / name).is_file():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, folder / name)
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "snapshot"]):
        subprocess.run([*git, *command], cwd=folder, check=True)
    return folder


def test_the_stack_is_colabs_and_the_package_is_not_the_checkout(colab_python):
    probe = (
        "import ipywidgets, IPython, ipykernel, gan_helpers, json; print(json.dumps([ipywidgets.__version__, "
        "IPython.__version__, ipykernel.__version__, gan_helpers.__file__]))"
    )
    done = subprocess.run(
        [str(colab_python), "-c", probe], capture_output=True, text=True, check=True, cwd="/"
    )
    widgets, ipython, kernel, location = json.loads(done.stdout)
    assert (widgets[:3], ipython[:4], kernel[:3]) == ("7.7", "7.34", "5.5")
    assert "site-packages" in location and str(project_dir()) not in location
    weights = Path(location).parent / "weights"
    assert sorted(p.name for p in weights.glob("*.pt")) == sorted(
        p.name for p in (project_dir() / "gan_helpers" / "weights").glob("*.pt")
    )


@pytest.fixture(scope="module")
def chapter_runs(request, colab_python, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every chapter this session tests, run alone, two at a time on one CPU thread each: much
    of a run is a kernel starting and imports, which one thread does anyway, so two at once
    finish sooner."""
    selected = {item.name for item in request.session.items}
    chosen = [n for n in NOTEBOOKS if f"test_each_chapter_runs_alone_on_colabs_stack[{n.stem}]" in selected]
    environment = {**os.environ, "FASHION_GAN_SMALL_RUN": "1", "OMP_NUM_THREADS": "1"}

    def run(notebook: Path) -> subprocess.CompletedProcess:
        alone = tmp_path_factory.mktemp(notebook.stem) / notebook.name  # empty: no checkout, no data/
        shutil.copy(notebook, alone)
        return run_alone(colab_python, alone, environment)

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip((n.stem for n in chosen), pool.map(run, chosen), strict=True))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_chapter_runs_alone_on_colabs_stack(chapter_runs, notebook):
    done = chapter_runs[notebook.stem]
    assert done.returncode == 0, done.stderr[-3000:]
    problems = json.loads(done.stdout.strip().splitlines()[-1])
    assert problems == [], "\n".join(problems)


def run_alone(python: Path, notebook: Path, environment: dict) -> subprocess.CompletedProcess:
    """Execute the notebook in its own folder with the Colab stack's Python."""
    return subprocess.run(
        [str(python), str(RUNNER), str(notebook)], cwd=notebook.parent, capture_output=True, text=True,
        env=environment, timeout=1500,
    )  # fmt: skip


if __name__ == "__main__":  # `python tests/colab/test_colab_stack.py PATH`: build the stack ahead (CI does)
    build_stack(Path(sys.argv[1]))
