"""Run inside the Colab-stack environment: execute one notebook with nbclient and print, as JSON,
every stderr text and error its cells wrote. Usage: python run_notebook.py NOTEBOOK"""

import json
import sys
from pathlib import Path

import nbclient
import nbformat

path = Path(sys.argv[1])
notebook = nbformat.read(path, as_version=4)
client = nbclient.NotebookClient(
    notebook,
    timeout=600,  # a cell of the small run takes seconds; a wait this long is a lost message
    kernel_name="python3",
    allow_errors=True,
    resources={"metadata": {"path": str(path.parent)}},
)
client.execute()
problems = []
for number, cell in enumerate(notebook.cells):
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            problems.append(f"cell {number}: {output.ename}: {output.evalue}")
        elif output.output_type == "stream" and output.name == "stderr" and output.text.strip():
            problems.append(f"cell {number} wrote to stderr: {output.text.strip()[:500]}")
print(json.dumps(problems))
