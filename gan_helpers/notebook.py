"""Small conveniences for the notebooks: showing library code instead of copying it."""

from __future__ import annotations

import inspect


def show_source(function) -> None:
    """Display a function's source as a highlighted code block (the real code, not a copy)."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(function).rstrip()}\n```"))
