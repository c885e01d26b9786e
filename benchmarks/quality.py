"""Sample quality: the textbook loop (benchmarks/reference.py) against our engine, same epochs and seed.

    python benchmarks/quality.py                        # DCGAN, 5 epochs, 10,000 samples, seed 0
    python benchmarks/quality.py --model wgan-gp --epochs 10 --decays 0.99 0.999 0.9999

Both loops train the same networks from the same seed for the same number of epochs: the
textbook loop with the textbook settings (`reference.TEXTBOOK_SETTINGS`), ours with the package's
defaults (for the DCGAN, batches of 32, the generator's rate doubled and no dropout, chosen with
`recipes.py`). Then the project's `evaluate` metrics (the classifier's feature space,
`gan_helpers.evaluation`) score 10,000 samples of each against 10,000 training images. Our run
is scored twice: with the average of its generator's weights (`ema_decay`, what the engine shows
and exports) and with its last weights; `--decays` adds a row for each other decay, kept
alongside during the same run (each average is updated after every step, as the engine updates
its own).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.reference import TextbookGAN
from gan_helpers.config import TrainConfig
from gan_helpers.evaluation import Reference, evaluate_generator, format_table
from gan_helpers.kinds import get_kind
from gan_helpers.runs import make_average, new_run, update_average
from gan_helpers.training import train

STEPS_PER_EPOCH = 60_000 // 128  # both loops drop the last, partial batch


def train_reference(args: argparse.Namespace) -> tuple[torch.nn.Module, float]:
    start = time.perf_counter()
    gan = TextbookGAN(args.model, args.device, batch_size=128, seed=args.seed)
    gan.train_steps(args.epochs * STEPS_PER_EPOCH)
    return gan.generator.eval(), time.perf_counter() - start


def with_averages(model: str, averages: dict[float, torch.nn.Module]):
    """The model's own step, then an update of each extra average of the generator's weights."""
    own_step = get_kind(model).step

    def step(run, real, labels):
        metrics = own_step(run, real, labels)
        if "loss_g" in metrics:  # as the engine does: the average follows the generator's updates
            for decay, average in averages.items():
                update_average(average, run.generator, decay, run.generator_steps)
        return metrics

    return step


def train_ours(args: argparse.Namespace, folder: str) -> tuple[dict[str, torch.nn.Module], float]:
    """Our engine with its defaults; extra weight averages (``--decays``) kept by a step of ours."""
    config = TrainConfig.for_model(
        args.model, num_epochs=args.epochs, seed=args.seed, device=args.device, output_dir=folder
    )
    run = new_run(config)
    extra = {decay: make_average(run.generator) for decay in args.decays if decay != config.ema_decay}
    start = time.perf_counter()
    train(run, step=with_averages(args.model, extra) if extra else None, progress=False)
    seconds = time.perf_counter() - start
    generators = {f"ours, ema {config.ema_decay}": run.ema, "ours, last weights": run.generator.eval()}
    generators |= {f"ours, ema {decay}": average for decay, average in extra.items()}
    return generators, seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", default="dcgan", choices=("mlp", "dcgan", "wgan-gp"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--decays", type=float, nargs="*", default=[], help="extra weight-average decays")
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.samples < 20:
        parser.error("--epochs must be at least 1 and --samples at least 20")
    print(f"{args.model}, {args.epochs} epochs, seed {args.seed}, {args.device}; "
          f"{args.samples} samples per row", flush=True)  # fmt: skip
    reference_generator, reference_seconds = train_reference(args)
    with tempfile.TemporaryDirectory() as folder:
        ours, ours_seconds = train_ours(args, folder)
    reference = Reference.build(count=args.samples, seed=args.seed, device=args.device)
    rows = {"textbook loop": evaluate_generator(reference_generator, reference, args.samples, args.seed)}
    rows |= {name: evaluate_generator(g, reference, args.samples, args.seed) for name, g in ours.items()}
    print(format_table(rows))
    base = rows["textbook loop"]["FD"]
    for name, row in rows.items():
        print(f"{name:<22} FD {row['FD']:7.2f}   ours/textbook {row['FD'] / base:5.2f}")
    print(f"training time: textbook loop {reference_seconds:.0f} s, ours {ours_seconds:.0f} s")


if __name__ == "__main__":
    main()
