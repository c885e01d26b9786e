"""The package's layout: each module one job, and headless work free of notebook libraries."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

from gan_helpers.data import project_dir

PACKAGE = project_dir() / "gan_helpers"
NOTEBOOK_ONLY = ("ipywidgets", "IPython", "matplotlib.pyplot")


def test_training_from_the_command_line_never_loads_notebook_libraries(tmp_path):
    probe = (
        "import json, sys\n"
        "from gan_helpers.cli import main\n"
        "code = main(['train', 'mlp', '--epochs', '1', '--subset', '0.01', '--quiet', '--output-dir', "
        f"{str(tmp_path)!r}])\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {NOTEBOOK_ONLY[:2]!r} "
        "or m == 'matplotlib.pyplot')\n"
        "print(json.dumps([code, loaded]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=project_dir()
    )
    code, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert code == 0 and (tmp_path / "mlp" / "losses.png").stat().st_size > 0
    assert loaded == [], f"headless training imported {loaded}"


def module_docstrings() -> dict[str, str]:
    return {path.stem: ast.get_docstring(ast.parse(path.read_text())) or "" for path in PACKAGE.glob("*.py")}


def test_the_readme_lists_every_module_and_only_those():
    readme = (project_dir() / "README.md").read_text()
    section = readme.split("The package, `gan_helpers/`, has", 1)[1].split("| module |", 1)[1]
    rows = section.split("\n\n", 1)[0].splitlines()[2:]  # after the heading and its rule
    listed = {re.match(r"\| `(\w+)` \|", row).group(1) for row in rows}
    modules = {name for name in module_docstrings() if name != "__init__"}
    assert listed == modules, (
        f"README lists {sorted(listed - modules)} too many, {sorted(modules - listed)} missing"
    )


def test_every_module_says_its_job_and_stays_readable():
    for name, docstring in module_docstrings().items():
        if name == "__init__":
            continue
        assert docstring, f"gan_helpers/{name}.py has no docstring saying its job"
        lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
        # About 450 lines is the guide (README, Contributing): an idea is never split to meet it, but a
        # module far past it most likely holds two ideas.
        assert lines <= 600, f"gan_helpers/{name}.py has {lines} lines: does it hold more than one idea?"


def test_no_module_branches_on_a_model_kinds_name():
    """What differs between kinds lives in gan_helpers/kinds.py; elsewhere no `model == "wgan-gp"`."""
    pattern = re.compile(r"""(model|kind|objective)\s*(==|!=|in)\s*\(?["'](mlp|dcgan|wgan-gp|cgan)""")
    for path in PACKAGE.glob("*.py"):
        if path.name != "kinds.py":
            found = [line for line in path.read_text().splitlines() if pattern.search(line)]
            assert found == [], f"{path.name} decides by a kind's name: {found}"


def test_the_package_folder_holds_only_modules_and_weights():
    """A stray copy of a module (a file without .py) would hold a second version of a decision."""
    strays = [path.name for path in PACKAGE.iterdir()
              if path.suffix != ".py" and path.name not in ("weights", "__pycache__")]  # fmt: skip
    assert strays == []


def test_code_names_no_dates_or_machines_of_a_particular_run():
    """Docstrings and comments say what and why; the README's dated tables keep the record."""
    pattern = re.compile(r"20\d\d-\d\d-\d\d|\bH100\b|\bH200\b|\b\d-core\b|\btorch 2\.\d+")
    for path in [*PACKAGE.glob("*.py"), *(project_dir() / "benchmarks").glob("*.py")]:
        found = [line.strip() for line in path.read_text().splitlines() if pattern.search(line)]
        assert found == [], f"{path.name}: {found}"


def imports_of(path) -> set[str]:
    """The package's modules that ``path`` imports, anywhere in it (type-checking blocks included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gan_helpers."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("gan_helpers."))
    return found


def test_the_modules_import_each_other_as_a_tree_with_no_cycle():
    """Each module builds only on modules below it, so the package reads top-down: command ->
    config -> run -> engine -> steps -> networks. A cycle, even one closed by a typing-only import,
    would mean two modules that each need the other to be understood."""
    graph = {path.stem: imports_of(path) - {path.stem} for path in PACKAGE.glob("*.py")}
    state: dict[str, str] = {}

    def visit(module: str, trail: list[str]) -> None:
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join([*trail, module])}"
        state[module] = "open"
        for imported in sorted(graph.get(module, ())):
            visit(imported, [*trail, module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])
