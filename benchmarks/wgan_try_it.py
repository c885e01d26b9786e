"""Chapter 04's Try-it variations at the size a learner runs them, next to the defaults.

    python benchmarks/wgan_try_it.py     # 3 epochs each, full data, seed 0 (about 20 minutes on 2 cores)

The critic with batch norm is the chapter's own class, read from its Try-it cell. Prints, for
each run, the critic's Wasserstein estimate and the gradient penalty (largest logged value,
mean of the last fifth) and the FD tracked after each epoch (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_helpers.config import TrainConfig
from gan_helpers.models import Critic, DCGANGenerator
from gan_helpers.runs import new_run
from gan_helpers.steps import wgan_gp_train_step
from gan_helpers.training import train

CHAPTER = Path(__file__).resolve().parent.parent / "notebooks" / "04_wgan_gp.ipynb"


def chapter_class(name: str) -> type:
    """A class the chapter defines in a code cell (executed alone, with torch and nn at hand)."""
    import torch
    from torch import nn

    cells = nbformat.read(CHAPTER, as_version=4).cells
    source = next(cell.source for cell in cells if f"class {name}(" in cell.source)
    namespace = {"torch": torch, "nn": nn}
    exec(source.split("\n\n\nvariations")[0], namespace)
    return namespace[name]


def summary(history: dict, key: str) -> tuple[float, float]:
    values = [value for value in history[key] if not math.isnan(value)]
    tail = values[-max(1, len(values) // 5) :]
    return max(values), sum(tail) / len(tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    variations = {"defaults": ({}, Critic), "no penalty": (dict(gp_weight=0.0), Critic),
                  "n_critic 1": (dict(n_critic=1), Critic),
                  "critic with batch norm": ({}, chapter_class("CriticWithBatchNorm"))}  # fmt: skip
    print(f"{'run':24} {'W max':>9} {'W end':>9} {'gp max':>10} {'gp end':>9}   FD after each epoch")
    with tempfile.TemporaryDirectory() as folder:
        for name, (change, critic) in variations.items():
            config = TrainConfig.for_model(
                "wgan-gp", num_epochs=args.epochs, seed=args.seed, output_dir=folder,
                run_name=name.replace(" ", "-"), **change,
            )  # fmt: skip
            run = train(new_run(config, generator=DCGANGenerator(config.latent_dim), discriminator=critic()),
                        step=wgan_gp_train_step, progress=False)  # fmt: skip
            (w_max, w_end), (gp_max, gp_end) = summary(run.history, "wasserstein"), summary(run.history, "gp")
            fd = ", ".join(f"{value:.1f}" for value in run.history["fd"])
            print(f"{name:24} {w_max:>9.1f} {w_end:>9.2f} {gp_max:>10.3g} {gp_end:>9.3g}   {fd}", flush=True)


if __name__ == "__main__":
    main()
