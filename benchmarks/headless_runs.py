"""How long each chapter takes headless, run as a teacher's grading job runs it: the runner's own
command line, the chapter's default settings, no cell timeout.

    python benchmarks/headless_runs.py 03 04 --runner nbconvert      # full size
    python benchmarks/headless_runs.py all --runner papermill --threads 1
    python benchmarks/headless_runs.py 01 --small --record /tmp/times.json
    python benchmarks/headless_runs.py --table                          # the record, as in the README

Each finished run is added to ``--record`` (JSON) at once, so a long series can be stopped and
started again: a chapter already recorded for that runner, size and thread count is skipped
(``--again`` runs it anyway). The executed notebooks are kept in ``--output-dir``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

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
    out = output_dir / f"{notebook.stem}.{runner}{'.small' if small else ''}.ipynb"
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
    return all(a[key] == b[key] for key in ("chapter", "runner", "small", "threads"))


def table(record: list[dict], small: bool) -> str:
    """The record as a Markdown table: a row per chapter, a column per runner, wall seconds
    (with the kernel's thread count; a failed run says so)."""
    runners = sorted({row["runner"] for row in record if row["small"] == small})
    lines = ["| chapter | " + " | ".join(runners) + " |", "| --- |" + " --- |" * len(runners)]
    for chapter in sorted({row["chapter"] for row in record if row["small"] == small}):
        cells = []
        for runner in runners:
            rows = [r for r in record if (r["chapter"], r["runner"], r["small"]) == (chapter, runner, small)]
            cells.append("; ".join(
                f"{r['seconds']:.0f} s ({r['threads']} thread{'s' * (r['threads'] > 1)}, {r['date']})"
                + ("" if r["returncode"] == 0 else f", FAILED ({r['returncode']})")
                for r in rows
            ) or "—")  # fmt: skip
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
    if args.table:
        print(table(json.loads(args.record.read_text()) if args.record.exists() else [], args.small))
        return
    notebooks = chapters(args.chapters)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    record = json.loads(args.record.read_text()) if args.record.exists() else []
    for notebook in notebooks:
        wanted = dict(chapter=notebook.stem, runner=args.runner, small=args.small, threads=args.threads)
        if not args.again and any(same_run(row, wanted) for row in record):
            print(f"{notebook.stem:28} {args.runner:9} already recorded")
            continue
        row = run_chapter(notebook, args.runner, args.output_dir, args.small, args.threads)
        record = json.loads(args.record.read_text()) if args.record.exists() else []  # another lane's rows
        record = [old for old in record if not same_run(old, row)] + [row]
        args.record.write_text(json.dumps(record, indent=1) + "\n")
        status = "finished" if row["returncode"] == 0 else f"FAILED ({row['returncode']})"
        print(f"{notebook.stem:28} {args.runner:9} {row['seconds']:8.1f} s  {status}", flush=True)


if __name__ == "__main__":
    main()
