"""How long each chapter takes headless, run as a teacher's grading job runs it: the runner's own
command line, the chapter's default settings, no cell timeout.

    python benchmarks/headless_runs.py 03 04 --runner nbconvert      # full size
    python benchmarks/headless_runs.py all --runner papermill --threads 1
    python benchmarks/headless_runs.py 01 --small --record /tmp/times.json
    python benchmarks/headless_runs.py --table                          # the record, as in the README

Each finished run is added to ``--record`` (JSON) at once, so a long series can be stopped and
started again: a chapter that finished for that runner, size and thread count is skipped
(``--again`` runs it anyway; a failed one runs again). The executed notebooks are kept in
``--output-dir``. Two series may run side by side, adding to one record, only from two
checkouts: a chapter trains into fixed folders of its own checkout's ``generated_samples/``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.records import check_writable, read_record, update_record

PROJECT = Path(__file__).resolve().parent.parent
NOTEBOOKS = PROJECT / "notebooks"
RECORD = Path(__file__).resolve().parent / "headless_runs.json"
COMMANDS = {  # what a user types in notebooks/, as the README shows it
    "nbconvert": lambda notebook, out: [
        "jupyter",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        notebook.name,
        "--output",
        str(out),
    ],
    "papermill": lambda notebook, out: ["papermill", "--no-progress-bar", notebook.name, str(out)],
}


def chapters(names: list[str]) -> list[Path]:
    """The notebooks named by their numbers (``03``) or ``all``; an unknown one is refused."""
    notebooks = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if names == ["all"]:
        return notebooks
    by_number = {notebook.name[:2]: notebook for notebook in notebooks}
    unknown = [name for name in names if name.zfill(2) not in by_number]
    if unknown:
        raise SystemExit(f"no chapter {', '.join(unknown)}: choose from {', '.join(by_number)} or all")
    return [by_number[name.zfill(2)] for name in names]


def run_chapter(notebook: Path, runner: str, output_dir: Path, small: bool, threads: int) -> dict:
    """Run one chapter through ``runner`` and return what the record keeps of it."""
    out = output_dir / f"{notebook.stem}.{runner}{'.small' if small else ''}.{threads}-threads.ipynb"
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.pop("FASHION_GAN_SMALL_RUN", None)
    if small:
        env["FASHION_GAN_SMALL_RUN"] = "1"
    start = time.monotonic()
    done = subprocess.run(
        COMMANDS[runner](notebook, out.resolve()), cwd=NOTEBOOKS, env=env, capture_output=True, text=True
    )
    seconds = time.monotonic() - start
    if done.returncode:
        print(done.stderr[-2000:], file=sys.stderr)
    return {
        "chapter": notebook.stem,
        "runner": runner,
        "small": small,
        "threads": threads,
        "seconds": round(seconds, 1),
        "returncode": done.returncode,
        "date": datetime.date.today().isoformat(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "notebook": str(out),
    }


def same_run(a: dict, b: dict) -> bool:
    """Whether two rows are of the same chapter, runner, size and thread count."""
    return all(a[key] == b[key] for key in ("chapter", "runner", "small", "threads"))


def replaced(record: list[dict], row: dict) -> list[dict]:
    """The record with ``row`` in place of any earlier row of the same run."""
    return [old for old in record if not same_run(old, row)] + [row]


def table_cell(row: dict) -> str:
    """One run: its wall seconds, the kernel's threads and the date (and FAILED if it did not finish)."""
    threads = f"{row['threads']} thread{'s' * (row['threads'] > 1)}"
    failed = "" if row["returncode"] == 0 else f", FAILED ({row['returncode']})"
    return f"{row['seconds']:.0f} s ({threads}, {row['date']}){failed}"


def table(record: list[dict], small: bool) -> str:
    """The record as a Markdown table: a row per chapter, a column per runner, wall seconds
    (with the kernel's thread count; a failed run says so)."""
    runners = sorted({row["runner"] for row in record if row["small"] == small})
    lines = ["| chapter | " + " | ".join(runners) + " |", "| --- |" + " --- |" * len(runners)]
    for chapter in sorted({row["chapter"] for row in record if row["small"] == small}):
        cells = []
        for runner in runners:
            rows = [
                row
                for row in record
                if (row["chapter"], row["runner"], row["small"]) == (chapter, runner, small)
            ]
            cells.append("; ".join(map(table_cell, rows)) or "—")
        lines.append(f"| `{chapter}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("chapters", nargs="*", default=["all"], help="chapter numbers (03 04) or all")
    parser.add_argument("--runner", choices=sorted(COMMANDS), default="nbconvert")
    parser.add_argument("--small", action="store_true", help="the tests' small run (FASHION_GAN_SMALL_RUN=1)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="OMP_NUM_THREADS for the kernel")
    parser.add_argument("--record", type=Path, default=RECORD)
    parser.add_argument("--output-dir", type=Path, default=Path("/tmp/headless-runs"))
    parser.add_argument("--again", action="store_true", help="run chapters already recorded again")
    parser.add_argument(
        "--table", action="store_true", help="print the record as a Markdown table, run nothing"
    )
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads {args.threads}: give at least 1")
    record = read_record(args.record, [])
    if args.table:
        print(table(record, args.small))
        return
    notebooks = chapters(args.chapters)
    check_writable(args.record)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    for notebook in notebooks:
        wanted = dict(chapter=notebook.stem, runner=args.runner, small=args.small, threads=args.threads)
        finished = [
            row for row in read_record(args.record, []) if same_run(row, wanted) and row["returncode"] == 0
        ]
        if finished and not args.again:
            print(f"{notebook.stem:28} {args.runner:9} already recorded")
            continue
        row = run_chapter(notebook, args.runner, args.output_dir, args.small, args.threads)
        update_record(args.record, lambda record, row=row: replaced(record, row), [])
        status = "finished" if row["returncode"] == 0 else f"FAILED ({row['returncode']})"
        print(f"{notebook.stem:28} {args.runner:9} {row['seconds']:8.1f} s  {status}", flush=True)


if __name__ == "__main__":
    main()
