"""Chapter 08's table: what each stabilizer does at one fixed budget, over several seeds.

    python benchmarks/stabilizers.py                        # 3 seeds, 5 epochs, the default variants
    python benchmarks/stabilizers.py --epochs 1 --samples 5000   # the CPU budget (benchmarks/README.md)
    python benchmarks/stabilizers.py --variants plain "+ spectral norm" --seeds 0 1

Every variant trains the DCGAN's networks (chapter 03's generator; its discriminator with no
dropout, with or without spectral norm) with our engine and the SN-GAN kind's settings, adding
to the plain GAN only the stabilizers it names, for the same number of epochs; WGAN-GP is its
own kind at its own settings (chapter 04's critic, five critic steps per generator step). Each
run's weight average is scored with the FD of ``--samples`` samples against as many training
images in both feature spaces (the classifier's and the label-free encoder's,
``evaluation.tracked_quality``). The table gives each variant's mean over the seeds and the
spread (min-max), and says which differences are larger than the spread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_helpers.config import TrainConfig
from gan_helpers.evaluation import SPACES, Reference, score_name, tracked_quality
from gan_helpers.kinds import KINDS
from gan_helpers.training import train

OFF = {"loss": "non-saturating", "spectral_norm": False, "r1_weight": 0.0}
# Each variant: the model kind, and what changes from its defaults (TrainConfig field names).
VARIANTS = {
    "plain": ("sngan", OFF),
    "+ spectral norm": ("sngan", {**OFF, "spectral_norm": True}),
    "+ hinge loss": ("sngan", {**OFF, "loss": "hinge"}),
    "+ least-squares loss": ("sngan", {**OFF, "loss": "least-squares"}),
    "+ R1": ("sngan", {**OFF, "r1_weight": KINDS["sngan"].defaults["r1_weight"]}),
    "SN + hinge + R1": ("sngan", {}),
    "WGAN-GP": ("wgan-gp", {}),
}
DEFAULT_VARIANTS = ("plain", "+ spectral norm", "+ hinge loss", "+ R1", "SN + hinge + R1", "WGAN-GP")


def run_variant(name: str, seed: int, args: argparse.Namespace) -> dict | None:
    """Train one variant from ``seed``; both FDs and the seconds, None if stopped by Ctrl-C."""
    model, changes = VARIANTS[name]
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig.for_model(
            model, **changes, num_epochs=args.epochs, seed=seed, device=args.device, output_dir=folder,
            quality_every=0, subset=args.subset,
        )  # fmt: skip
        start = time.perf_counter()
        run = train(config, progress=False)
        seconds = time.perf_counter() - start
    if not run.finished:
        return None
    generator = run.ema if run.ema is not None else run.generator.eval()
    return {**tracked_quality(generator, args.references, seed), "seconds": seconds}


def name_width(results: dict) -> int:
    """The variants' column: at least 22 characters, and as wide as the longest name."""
    return max([22, *(len(name) + 2 for name in results)])


def summarize(results: dict[str, list[dict]]) -> str:
    """One line per variant: mean FD (min-max) in each space, then which leads beyond the spread."""
    width = name_width(results)
    lines = [
        f"{'variant':<{width}}" + "".join(f"{space + ' FD':>26}" for space in SPACES) + f"{'training s':>12}"
    ]
    for name, runs in results.items():
        cells = ""
        for space in SPACES:
            values = [run[score_name("fd", space)] for run in runs]
            cells += f"{statistics.mean(values):>10.2f} ({min(values):6.2f}-{max(values):6.2f})"
        timed = [run["seconds"] for run in runs if run["seconds"] is not None]  # None: not timed
        seconds = f"{statistics.mean(timed):>12.0f}" if timed else f"{'-':>12}"
        lines.append(f"{name:<{width}}{cells}{seconds}")
    for space in SPACES:
        lines.append(separation(results, score_name("fd", space), space))
    return "\n".join(lines)


def separation(results: dict[str, list[dict]], key: str, space: str) -> str:
    """The variant with the lowest mean FD, and the variants whose every seed it beats by all of
    them (its worst seed better than their best): the only differences the spread allows."""
    means = {name: statistics.mean(run[key] for run in runs) for name, runs in results.items()}
    best = min(means, key=means.get)
    worst_of_best = max(run[key] for run in results[best])
    beaten = [name for name, runs in results.items() if worst_of_best < min(run[key] for run in runs)]
    clear = ", ".join(beaten) if beaten else "none"
    return f"{space}: lowest mean FD {best}; its worst seed beats every seed of: {clear}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--subset", type=float, default=1.0, help="share of the training set (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--variants", nargs="+", default=list(DEFAULT_VARIANTS), metavar="NAME")
    parser.add_argument("--json", type=Path, help="also write every run's numbers to this file")
    args = parser.parse_args(argv)
    unknown = [name for name in args.variants if name not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant {unknown[0]!r}; choose from: {', '.join(map(repr, VARIANTS))}")
    if args.epochs < 1 or args.samples < 20 or not 0 < args.subset <= 1:
        parser.error("--epochs must be at least 1, --samples at least 20 and --subset in (0, 1]")
    print(f"{args.epochs} epochs on {args.subset:g} of the data, seeds {args.seeds}, {args.device}; "
          f"{args.samples} samples per FD", flush=True)  # fmt: skip
    args.references = [
        Reference.build(count=args.samples, device=args.device, space=space) for space in SPACES
    ]
    results: dict[str, list[dict]] = {}
    for name in args.variants:
        for seed in args.seeds:
            measured = run_variant(name, seed, args)
            if measured is None:
                print("stopped: the table below has the runs that finished")
                break
            results.setdefault(name, []).append(measured)
            distances = f"FD {measured['fd']:6.2f} (classifier) {measured['fd_encoder']:6.2f} (encoder)"
            print(f"{name:<22} seed {seed}: {distances}, {measured['seconds']:.0f} s", flush=True)
        else:
            continue
        break
    if results:
        print(summarize(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
