"""Which decay for the average of the generator's weights? FD per epoch, side by side, one run.

    python benchmarks/ema_decay.py                          # DCGAN, 10 epochs, decays 0.99 0.995 0.999
    python benchmarks/ema_decay.py --model wgan-gp --epochs 20 --decays 0.99 0.999

One training run (the engine with ``ema_decay=0``) keeps an average for each decay, updated after
every generator update as the engine updates its own (``runs.update_average``). After each epoch the last
weights and every average draw ``--samples`` images (noise seed 0), scored by FD against the
same real training images in the metrics' feature space (``evaluation.tracked_quality``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.quality import with_averages
from gan_helpers.config import TrainConfig
from gan_helpers.data import load_fashion_mnist
from gan_helpers.evaluation import Reference, tracked_quality
from gan_helpers.runs import make_average, new_run
from gan_helpers.training import train


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--model", default="dcgan", choices=("mlp", "dcgan", "wgan-gp", "cgan"))
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--decays", type=float, nargs="+", default=[0.99, 0.995, 0.999])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    data = load_fashion_mnist()
    reference = Reference.build(count=args.samples, seed=args.seed, device=args.device, train=data)
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig.for_model(
            args.model, num_epochs=1, seed=args.seed, device=args.device, output_dir=folder,
            ema_decay=0.0, quality_every=0,
        )  # fmt: skip
        run = new_run(config)
        averages = {decay: make_average(run.generator) for decay in args.decays}
        step_and_average = with_averages(args.model, averages)

        names = ["last weights", *(f"ema {decay}" for decay in args.decays)]
        print(f"{args.model}, seed {args.seed}, FD of {args.samples} samples after each epoch")
        print(f"{'epoch':>5}" + "".join(f"{name:>15}" for name in names), flush=True)
        for epoch in range(1, args.epochs + 1):
            run.config.num_epochs = epoch
            train(run, step=step_and_average, data=data, progress=False, overwrite=epoch == 1)
            generators = [run.generator, *averages.values()]
            scores = [tracked_quality(generator, [reference], args.seed)["fd"] for generator in generators]
            print(f"{epoch:>5}" + "".join(f"{score:>15.2f}" for score in scores), flush=True)


if __name__ == "__main__":
    main()
