"""The setup cell that makes every notebook run on Colab as well as in a checkout."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from gan_helpers.data import project_dir
from gan_helpers.notebook import REPOSITORY, setup_cell

NOTEBOOKS = sorted((project_dir() / "notebooks").glob("*.ipynb"))


def colab_url(notebook: str, repository: str = REPOSITORY, branch: str = "main") -> str:
    """The link that opens ``notebooks/<notebook>`` of the repository in Colab."""
    if not repository.startswith("https://github.com/"):
        raise ValueError(f"Colab opens GitHub repositories only, not {repository!r}")
    path = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{branch}/notebooks/{notebook}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_current_setup_cell(path):
    notebook = nbformat.read(path, as_version=4)
    first_code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    hint = f"run `python tools/refresh_notebooks.py --setup` to update {path.name}"
    assert first_code.source == setup_cell(), hint


def test_readme_documents_the_repository_and_links_every_notebook_to_colab():
    readme = (project_dir() / "README.md").read_text()
    assert REPOSITORY in readme
    for path in NOTEBOOKS:
        assert colab_url(path.name) in readme, f"README has no Colab link for {path.name}"


def run_setup_cell(monkeypatch, cwd: Path) -> list:
    """Execute the cell as if gan_helpers were not installed; return the commands it would run."""
    commands = []
    find_spec = importlib.util.find_spec
    hidden = lambda name, *args: None if name == "gan_helpers" else find_spec(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    monkeypatch.setattr(subprocess, "run", lambda command, **kwargs: commands.append(command))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(cwd)
    exec(setup_cell(), {})
    return commands


def test_in_a_checkout_the_cell_uses_the_package_folder_above(monkeypatch, tmp_path):
    (tmp_path / "gan_helpers").mkdir()
    (tmp_path / "notebooks").mkdir()
    assert run_setup_cell(monkeypatch, tmp_path / "notebooks") == []
    assert sys.path[0] == str(tmp_path.resolve())


def test_on_colab_the_cell_installs_only_our_package_from_the_repository(monkeypatch, tmp_path):
    commands = run_setup_cell(monkeypatch, tmp_path)
    assert commands == [[sys.executable, "-m", "pip", "install", "-q", "--no-deps", f"git+{REPOSITORY}"]]


def test_the_cell_does_nothing_when_the_package_is_installed(monkeypatch, tmp_path):
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("nothing should be installed"))
    monkeypatch.chdir(tmp_path)
    exec(setup_cell(), {})


def test_a_notebook_imports_the_package_of_its_own_checkout_and_says_which(tmp_path):
    """Two clones: the one the notebook sits in wins over the installed (editable) one."""
    package = tmp_path / "other-clone" / "gan_helpers"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (tmp_path / "other-clone" / "notebooks").mkdir()
    assert importlib.util.find_spec("gan_helpers").origin != str(package / "__init__.py")  # installed: ours
    done = subprocess.run(
        [sys.executable, "-c", setup_cell()], cwd=tmp_path / "other-clone" / "notebooks",
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == f"gan_helpers imported from {package.resolve()}"


def test_colab_links_need_a_github_repository():
    assert colab_url("03_dcgan.ipynb", "https://github.com/someone/fork") == (
        "https://colab.research.google.com/github/someone/fork/blob/main/notebooks/03_dcgan.ipynb"
    )
    with pytest.raises(ValueError, match="GitHub"):
        colab_url("03_dcgan.ipynb", "https://gitlab.com/someone/fork")


def test_the_package_requirements_admit_colabs_pinned_versions():
    """``pip install`` on Colab must not upgrade what Colab pins (a new ipywidgets forces a restart)."""
    import tomllib
    from packaging.requirements import Requirement

    from tests.colab.test_colab_stack import COLAB_STACK

    pins = dict(pin.split("==") for pin in COLAB_STACK)
    dependencies = tomllib.loads((project_dir() / "pyproject.toml").read_text())["project"]["dependencies"]
    requirements = {Requirement(text).name: Requirement(text) for text in dependencies}
    assert "ipywidgets" in requirements
    for name, version in pins.items():
        if name in requirements:
            refused = f"{requirements[name]} refuses Colab's {version}"
            assert requirements[name].specifier.contains(version), refused
