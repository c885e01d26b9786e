"""Copy the code the chapters define into the package, or check that the two are the same.

    python tools/export_code.py            # write every exported definition into gan_helpers/
    python tools/export_code.py --check    # list the differences and exit 1 if there are any
    python tools/export_code.py --root DIR # another checkout than this one

A notebook code cell whose first line is ``#| export MODULE`` (for example ``#| export losses``)
holds definitions (functions, classes and tables such as ``NAME = {...}``) that
``gan_helpers/MODULE.py`` must contain exactly:
each one replaces the top-level definition of the same name there. The notebook is where the
code is written and explained; the package is what the engine and the command line import.
The tests run ``--check``, so the two cannot drift apart (README, "Changing the code").
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
MARKER = "#| export "


@dataclass
class Definition:
    """One function, class or named table of an export cell, and where it must go."""

    notebook: str
    module: str  # the module's name inside gan_helpers, e.g. "losses"
    name: str
    source: str


def exported_definitions(notebook_path: Path) -> list[Definition]:
    """Every definition in the notebook's export cells, in order."""
    found = []
    for cell in nbformat.read(notebook_path, as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type != "code" or not first.startswith(MARKER):
            continue
        module = first.removeprefix(MARKER).strip()
        for node in ast.parse(body).body:
            name = defined_name(node)
            if name is None:
                raise ValueError(
                    f"{notebook_path.name}: an export cell may hold only functions, classes and NAME = ... "
                    f"tables, found {type(node).__name__} at line {node.lineno + 1} of the cell"
                )
            found.append(Definition(notebook_path.name, module, name, segment(body, node)))
    return found


def defined_name(node: ast.stmt) -> str | None:
    """The name a top-level statement defines: a function, a class, or one ``NAME = value``."""
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return node.name
    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
        return node.targets[0].id
    return None


def segment(source: str, node: ast.stmt) -> str:
    """The lines of ``node`` in ``source``, decorators included."""
    start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
    return "\n".join(source.splitlines()[start - 1 : node.end_lineno])


def top_level(module_source: str) -> dict[str, tuple[int, int]]:
    """Line spans (first, last; 1-based) of the module's top-level definitions."""
    spans = {}
    for node in ast.parse(module_source).body:
        name = defined_name(node)
        if name is not None:
            start = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            spans[name] = (start, node.end_lineno)
    return spans


def module_path(root: Path, module: str) -> Path:
    path = root / "gan_helpers" / f"{module}.py"
    if not path.is_file():
        raise ValueError(f"'#| export {module}': there is no gan_helpers/{module}.py")
    return path


def collect(root: Path = ROOT) -> list[Definition]:
    """All exported definitions of all notebooks; a name exported twice is an error."""
    definitions, seen = [], {}
    for notebook in sorted((root / "notebooks").glob("*.ipynb")):
        for definition in exported_definitions(notebook):
            key = (definition.module, definition.name)
            if key in seen:
                raise ValueError(
                    f"{definition.name} is exported by both {seen[key]} and {definition.notebook}"
                )
            seen[key] = definition.notebook
            definitions.append(definition)
    return definitions


def differences(root: Path = ROOT) -> list[str]:
    """One line per exported definition that the package lacks or holds in another form."""
    problems = []
    for definition in collect(root):
        path = module_path(root, definition.module)
        source = path.read_text()
        span = top_level(source).get(definition.name)
        where = f"{definition.name} ({definition.notebook} -> gan_helpers/{definition.module}.py)"
        if span is None:
            problems.append(f"{where}: not defined in the module")
        elif "\n".join(source.splitlines()[span[0] - 1 : span[1]]) != definition.source:
            problems.append(f"{where}: the notebook and the package differ")
    return problems


def export(root: Path = ROOT) -> list[str]:
    """Write every exported definition over its namesake in the package; returns what changed."""
    changed = []
    by_module: dict[str, list[Definition]] = {}
    for definition in collect(root):
        by_module.setdefault(definition.module, []).append(definition)
    for module, definitions in by_module.items():
        path = module_path(root, module)
        original = path.read_text()
        lines = original.splitlines()
        spans = top_level("\n".join(lines))
        missing = [d.name for d in definitions if d.name not in spans]
        if missing:
            raise ValueError(f"gan_helpers/{module}.py has no {', '.join(missing)}: add a stub there first")
        for definition in sorted(definitions, key=lambda d: spans[d.name][0], reverse=True):
            first, last = spans[definition.name]
            if "\n".join(lines[first - 1 : last]) != definition.source:
                lines[first - 1 : last] = definition.source.splitlines()
                changed.append(f"{definition.name} -> gan_helpers/{module}.py")
        text = "\n".join(lines) + "\n"
        if text != original:  # a module nothing changed in keeps its file (and its modification time)
            path.write_text(text)
    return changed


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1]) if "--root" in argv else ROOT
    try:
        if "--check" in argv:
            problems = differences(root)
            for problem in problems:
                print(problem)
            if problems:
                print("Run `python tools/export_code.py` to copy the notebooks' code into gan_helpers/.")
            return 1 if problems else 0
        for line in export(root) or ["nothing to change"]:
            print(line)
        return 0
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
