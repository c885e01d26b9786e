"""Chapter 10's table: augmentation against little data, at one budget, over several seeds.

    python benchmarks/little_data.py --json benchmarks/little_data.json     # 1%, 5%, 100%; 3 seeds
    python benchmarks/little_data.py --json benchmarks/little_data.json     # again: finishes what is missing
    python benchmarks/little_data.py --shares 0.01 --seeds 0 --steps 40 --samples 100   # a quick look

Each run trains chapter 03's DCGAN (its recipe: batch 32, no dropout) on a share of
Fashion-MNIST's training images, chosen by the run's seed, with ``augment`` none, diff or
adaptive, for about ``--steps`` batches (whole epochs: 1,875 is one epoch of all 60,000 images,
104 of the 600 in 1%). Its weight average is scored by the FD of ``--samples`` samples against
as many images of the *whole* training set, in both feature spaces (the classifier's and the
label-free encoder's): a generator that learned its 600 images by heart is far from the
other 59,400. ``--json`` keeps every finished run, so an interrupted table is completed by
running the same command again.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.stabilizers import summarize
from gan_helpers.augment import AUGMENTS
from gan_helpers.config import TrainConfig
from gan_helpers.evaluation import SPACES, Reference, tracked_quality
from gan_helpers.training import train

TRAINING_IMAGES, BATCH = 60_000, 32  # the DCGAN recipe's batch


def epochs_for(share: float, steps: int) -> int:
    """Whole epochs of ``share`` of the training set closest to ``steps`` batches."""
    batches = round(share * TRAINING_IMAGES) // BATCH
    return max(1, round(steps / batches))


def run_one(share: float, mode: str, seed: int, args: argparse.Namespace) -> dict:
    """Train one run; both FDs, the batches trained and the seconds."""
    with tempfile.TemporaryDirectory() as folder:
        config = TrainConfig.for_model(
            "dcgan", subset=share, augment=mode, seed=seed, num_epochs=epochs_for(share, args.steps),
            device=args.device, output_dir=folder, quality_every=0, log_every=10_000,
        )  # fmt: skip
        start = time.perf_counter()
        run = train(config, progress=False)
        seconds = time.perf_counter() - start
    return {**tracked_quality(run.ema, args.references, seed), "steps": run.step, "seconds": seconds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--shares", type=float, nargs="+", default=[0.01, 0.05, 1.0])
    parser.add_argument("--modes", nargs="+", default=list(AUGMENTS), choices=AUGMENTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1875, help="batches a run, whole epochs")
    parser.add_argument("--samples", type=int, default=2000, help="samples (and real images) per FD")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--json", type=Path, help="keep every run here; runs already in it are not repeated")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.samples < 20 or not all(0 < share <= 1 for share in args.shares):
        parser.error("--steps must be at least 1, --samples at least 20 and each share in (0, 1]")
    done = json.loads(args.json.read_text()) if args.json and args.json.is_file() else {}
    setting = f"{args.steps} steps, {args.samples} samples"
    if done.get("setting", setting) != setting:
        parser.error(f"{args.json} holds runs of {done['setting']}; give another --json file for {setting}")
    print(f"about {args.steps} batches of {BATCH} per run, seeds {args.seeds}, {args.device}; "
          f"{args.samples} samples per FD against the whole training set", flush=True)  # fmt: skip
    args.references = [
        Reference.build(count=args.samples, device=args.device, space=space) for space in SPACES
    ]
    runs = done.setdefault("runs", {})
    for share in args.shares:
        for mode in args.modes:
            for seed in args.seeds:
                key = f"{share:g} {mode} {seed}"
                if key not in runs:
                    runs[key] = run_one(share, mode, seed, args)
                    if args.json:  # after every run: an interrupted table loses at most one
                        args.json.write_text(json.dumps({"setting": setting, "runs": runs}, indent=1))
                measured = runs[key]
                print(f"{share:>5.0%} {mode:<9} seed {seed}: FD {measured['fd']:6.2f} (classifier) "
                      f"{measured['fd_encoder']:6.3f} (encoder), {measured['steps']} steps, "
                      f"{measured['seconds']:.0f} s", flush=True)  # fmt: skip
        table = {f"{share:.0%} {mode}": [runs[f"{share:g} {mode} {seed}"] for seed in args.seeds]
                 for mode in args.modes}  # fmt: skip
        print(summarize(table), flush=True)


if __name__ == "__main__":
    main()
