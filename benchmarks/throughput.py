"""Training images per second: the textbook loop (benchmarks/reference.py) against our engine.

    python benchmarks/throughput.py [--device cpu|cuda] [--steps N] [--repeats R] [--models ...]

Each (model, loop) pair runs in its own process, so its peak memory is its own; both see the
same device, architecture and batch size. After warm-up steps, R repeats of N steps are
timed; the table gives the median images/s with the spread (min-max), the time of one epoch of
60,000 images at that rate, peak memory, and the ratio ours/reference.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_helpers.batches import BatchIterator
from gan_helpers.config import TrainConfig
from gan_helpers.data import load_fashion_mnist
from gan_helpers.runs import new_run
from gan_helpers.training import MetricAverager, make_step

TRAIN_IMAGES = 60_000


class Engine:
    """Our loop, as ``training.train`` runs it: device-resident batches, fast paths, sync every N."""

    def __init__(self, model: str, device: str, batch_size: int, **options) -> None:
        self.run = new_run(TrainConfig.for_model(model, device=device, batch_size=batch_size, **options))
        data = load_fashion_mnist()
        self.batches = BatchIterator(data, batch_size, device=self.run.device, drop_last=True, seed=0)
        self.step, self.averager = make_step(self.run), MetricAverager()
        self.iterator = self._forever()

    def _forever(self):
        epoch = 0
        while True:
            yield from self.batches.batches(epoch)
            epoch += 1

    def train_steps(self, steps: int) -> None:
        for _ in range(steps):
            real, labels = next(self.iterator)
            self.averager.add(self.step(real, labels))
            self.run.step += 1
            if self.run.step % self.run.config.log_every == 0:
                self.averager.pop()  # the one host sync of the window, as in train()


def measure(loop: str, model: str, args: argparse.Namespace) -> dict:
    """Time ``repeats`` x ``steps`` training steps of one loop (in this process)."""
    if loop == "reference":
        from benchmarks.reference import TextbookGAN

        trainer = TextbookGAN(model, args.device, args.batch_size)
    else:
        trainer = Engine(model, args.device, args.batch_size, amp=args.amp, compile=args.compile)
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    trainer.train_steps(args.warmup)
    sync()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    seconds = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        trainer.train_steps(args.steps)
        sync()
        seconds.append(time.perf_counter() - start)
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    return {"images_per_s": [args.steps * args.batch_size / s for s in seconds], "peak_mib": peak}


def run_isolated(loop: str, model: str, argv: list[str]) -> dict:
    command = [sys.executable, __file__, *argv, "--worker", loop, model]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def report(results: dict, args: argparse.Namespace) -> str:
    memory = "GPU peak MiB" if args.device == "cuda" else "RSS peak MiB"
    header = ("model", "loop", "images/s", "spread", "epoch s", memory, "ours/ref")
    widths = ("<9", "<11", ">10", ">19", ">9", ">14", ">10")
    lines = ["".join(f"{h:{w}}" for h, w in zip(header, widths, strict=True))]
    for model in args.models:
        rates = {}
        for loop in ("reference", "ours"):
            result = results[model][loop]
            rate = statistics.median(result["images_per_s"])
            rates[loop] = rate
            spread = f"{min(result['images_per_s']):,.0f}-{max(result['images_per_s']):,.0f}"
            ratio = f"{rate / rates['reference']:.2f}x" if loop == "ours" else ""
            lines.append(f"{model:<9}{loop:<11}{rate:>10,.0f}{spread:>19}{TRAIN_IMAGES / rate:>9.1f}"
                         f"{result['peak_mib']:>14,.0f}{ratio:>10}")  # fmt: skip
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", choices=("cpu", "cuda"), default=default_device)
    parser.add_argument("--steps", type=int, help="timed steps per repeat (default 20 on CPU, 200 on CUDA)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=["mlp", "dcgan", "wgan-gp"])
    parser.add_argument("--amp", action="store_true", help="ours: bfloat16 autocast")
    parser.add_argument("--compile", action="store_true", help="ours: torch.compile the networks")
    parser.add_argument("--worker", nargs=2, metavar=("LOOP", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.steps = args.steps or (200 if args.device == "cuda" else 20)
    for name in ("steps", "repeats", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.worker:
        print(json.dumps(measure(*args.worker, args)))
        return
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.machine()
    print(f"device: {args.device} ({device}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch {args.batch_size}, {args.warmup} warm-up + {args.repeats} x {args.steps} timed steps"
          + (", ours with --amp" if args.amp else "") + (", ours with --compile" if args.compile else ""),
          flush=True)  # fmt: skip
    results = {model: {loop: run_isolated(loop, model, argv) for loop in ("reference", "ours")}
               for model in args.models}  # fmt: skip
    print(report(results, args))


if __name__ == "__main__":
    main()
