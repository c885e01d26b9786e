"""The README's quality table is what `evaluate` prints for the shipped weights today.

It runs the README's command in full (10,000 samples per model, about 3 minutes on 2 CPU
cores): a retrained generator shipped without refreshing the table, or a table edited by hand,
fails here. Numbers may differ in the last digit between CPUs, so each is compared within
0.05 + 1% of the README's; words and the layout must match exactly.
"""

from __future__ import annotations

import re

from gan_helpers.cli import evaluate_paths
from gan_helpers.data import project_dir
from gan_helpers.kinds import MODEL_KINDS

NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def readme_table() -> str:
    """The README's block that starts with the evaluate header (the code fence's contents)."""
    readme = (project_dir() / "README.md").read_text()
    start = readme.index("10000 samples per row")
    return readme[start : readme.index("```", start)].strip()


def split(text: str) -> tuple[list[str], list[float]]:
    """The words of a table (numbers replaced by #) and its numbers, in order."""
    numbers = [float(match.replace(",", "")) for match in NUMBER.findall(text)]
    return NUMBER.sub("#", text).split(), numbers


def test_split_separates_words_from_numbers():
    assert split("dcgan  15.58  217.28 ± 26.48  T-shirt/top 83.8%") == (
        ["dcgan", "#", "#", "±", "#", "T-shirt/top", "#%"], [15.58, 217.28, 26.48, 83.8]
    )


def test_readme_table_is_what_evaluate_prints_for_the_shipped_weights():
    words, numbers = split(readme_table())
    printed_words, printed = split(evaluate_paths(list(MODEL_KINDS)))  # the README command's order
    assert printed_words == words, "the table's layout or rows differ: paste `evaluate`'s output"
    pairs = zip(printed, numbers, strict=True)  # equal words, so as many numbers
    wrong = [(ours, theirs) for ours, theirs in pairs if abs(ours - theirs) > 0.05 + 0.01 * abs(theirs)]
    assert not wrong, f"evaluate printed / README says: {wrong[:8]}"
