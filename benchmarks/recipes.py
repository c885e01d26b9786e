"""Early quality of training recipes: FD after a few epochs for changes to the textbook settings.

    python benchmarks/recipes.py                      # DCGAN, 5 epochs, every recipe below, seed 0
    python benchmarks/recipes.py --recipes textbook "batch 32" --epochs 3
    python benchmarks/recipes.py --textbook           # adds the textbook loop's row (quality.py's)

Each recipe trains the model with our engine from the same seed for the same number of epochs,
starting from the textbook settings (batches of 128 and `reference.TEXTBOOK_SETTINGS`: for the
DCGAN, both learning rates 2e-4 and dropout 0.3) and changing only what it names; its weight
average is then scored on 10,000 samples with the project's `evaluate` metrics against 10,000
training images in both feature spaces (the classifier's and the label-free encoder's). A
recipe wins only if it has the lowest FD in both; otherwise the last lines state the trade-off.
This is how the DCGAN's defaults in `gan_helpers.kinds.KINDS["dcgan"].defaults` were chosen
(benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quality import train_reference
from benchmarks.reference import TEXTBOOK_SETTINGS
from gan_helpers.config import TrainConfig
from gan_helpers.evaluation import SPACES, Reference, evaluate_generator, format_table
from gan_helpers.training import train

# What each recipe changes from the textbook settings (TrainConfig field names).
RECIPES = {
    "textbook": {},
    "batch 64": {"batch_size": 64},
    "batch 32": {"batch_size": 32},
    "no dropout": {"dropout": 0.0},
    "lr 4e-4": {"lr_g": 4e-4, "lr_d": 4e-4},
    "lr_g 4e-4": {"lr_g": 4e-4},
    "batch 32, lr 1e-4": {"batch_size": 32, "lr_g": 1e-4, "lr_d": 1e-4},
    "batch 32, no dropout": {"batch_size": 32, "dropout": 0.0},
    "batch 64, lr 4e-4": {"batch_size": 64, "lr_g": 4e-4, "lr_d": 4e-4},
    "batch 32, no dropout, lr_g 4e-4": {"batch_size": 32, "dropout": 0.0, "lr_g": 4e-4},
    "batch 64, no dropout, lr_g 4e-4": {"batch_size": 64, "dropout": 0.0, "lr_g": 4e-4},
    "batch 32, lr_g 4e-4": {"batch_size": 32, "lr_g": 4e-4},
    "batch 16, no dropout": {"batch_size": 16, "dropout": 0.0},
}


def recipe_config(model: str, changes: dict, **fixed) -> TrainConfig:
    """The textbook settings for ``model`` with a recipe's ``changes``, and ``fixed`` (seed, device...)."""
    textbook = {"batch_size": 128, **TEXTBOOK_SETTINGS.get(model, {})}
    return TrainConfig.for_model(model, **{**textbook, **fixed, **changes})


def train_recipe(args: argparse.Namespace, changes: dict, folder: str) -> tuple[nn.Module, float] | None:
    """Our engine with the recipe's settings; the averaged generator and the seconds, None if stopped."""
    config = recipe_config(
        args.model, changes, num_epochs=args.epochs, seed=args.seed, device=args.device,
        output_dir=folder, quality_every=0, subset=args.subset,
    )  # fmt: skip
    start = time.perf_counter()
    run = train(config, progress=False)
    if not run.finished:  # stopped by Ctrl-C: its score would not be a score after --epochs
        print(f"stopped after {run.epoch} of {args.epochs} epochs: no row for it, and no further recipes")
        return None
    return (run.ema if run.ema is not None else run.generator.eval()), time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", default="dcgan", choices=("mlp", "dcgan", "wgan-gp", "cgan"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--subset", type=float, default=1.0, help="share of the training set (default all)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), metavar="NAME")
    parser.add_argument("--textbook", action="store_true", help="add the textbook loop's row")
    parser.add_argument("--json", type=Path, help="also write the rows to this file")
    args = parser.parse_args(argv)
    unknown = [name for name in args.recipes if name not in RECIPES]
    if unknown:
        parser.error(f"unknown recipe {unknown[0]!r}; choose from: {', '.join(map(repr, RECIPES))}")
    if args.epochs < 1 or args.samples < 20:
        parser.error("--epochs must be at least 1 and --samples at least 20")
    if args.textbook and args.model == "cgan":
        parser.error("the textbook loop has no conditional GAN; leave out --textbook")
    print(f"{args.model}, {args.epochs} epochs, seed {args.seed}, {args.device}; "
          f"{args.samples} samples per row", flush=True)  # fmt: skip
    references = [Reference.build(count=args.samples, seed=args.seed, device=args.device, space=space)
                  for space in SPACES]  # fmt: skip

    def score(generator: nn.Module) -> list[dict]:
        return [evaluate_generator(generator, reference, args.samples, args.seed) for reference in references]

    rows, seconds = {}, {}
    if args.textbook:
        generator, seconds["textbook loop"] = train_reference(args)
        rows["textbook loop"] = score(generator)
    for name in args.recipes:
        with tempfile.TemporaryDirectory() as folder:
            trained = train_recipe(args, RECIPES[name], folder)
        if trained is None:
            break
        generator, seconds[name] = trained
        rows[name] = score(generator)
        distances = "  ".join(f"{row['space']} {row['FD']:6.2f}" for row in rows[name])
        print(f"{name:<24} FD {distances}   {seconds[name]:6.0f} s", flush=True)
    if not rows:
        return
    print(format_table(rows))
    print(verdict(rows, seconds))
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "seconds": seconds}, indent=1))


def verdict(rows: dict[str, list[dict]], seconds: dict[str, float]) -> str:
    """Each row's FD in both spaces as a ratio to the first row's, then the winner: the recipe
    with the lowest FD in both spaces, or the two that lead in one each."""
    base = next(iter(rows.values()))  # the textbook loop's, else the first recipe's
    lines = []
    for name, row in rows.items():
        pairs = zip(row, base, strict=True)
        ratios = "  ".join(f"{r['space']} {r['FD']:6.2f} ({r['FD'] / b['FD']:4.2f}x)" for r, b in pairs)
        lines.append(f"{name:<32} FD {ratios}   training {seconds[name]:6.0f} s")
    leaders = [min(rows, key=lambda name, i=i: rows[name][i]["FD"]) for i in range(len(SPACES))]
    if len(set(leaders)) == 1:
        lines.append(f"lowest FD in both spaces: {leaders[0]}")
    else:
        lines.append("no recipe leads in both spaces: " + ", ".join(
            f"{space}: {leader}" for space, leader in zip(SPACES, leaders, strict=True)))
    return "\n".join(lines)


if __name__ == "__main__":
    main()
