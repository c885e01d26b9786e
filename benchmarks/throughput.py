"""Training images per second: the textbook loop (benchmarks/reference.py) against our engine.

    python benchmarks/throughput.py [--device cpu|cuda] [--steps N] [--repeats R] [--models ...]
    python benchmarks/throughput.py --amp            # adds a row for ours with bf16 autocast
    python benchmarks/throughput.py --device cuda --no-cuda-graphs   # adds a row: kernels launched one by one
    python benchmarks/throughput.py --no-reuse-cpu-memory   # adds a row: malloc returns freed memory

Each (model, loop) pair lives in its own process, so its peak memory is its own, and all of a
model's loops see the same device, architecture and batch size. The loops take turns: repeat r
times N steps of the reference, then of ours, then the next repeat. A machine whose speed drifts
(a shared or throttled one) then slows both alike, and the ratio of each pair stays fair. The
table gives the median images/s with its spread (min-max), the time of one epoch of 60,000
images at that rate, peak memory, and the median of the per-repeat ratios ours/reference.
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
from contextlib import ExitStack
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_helpers.config import TrainConfig
from gan_helpers.data import BatchIterator, load_fashion_mnist
from gan_helpers.runs import new_run, update_average
from gan_helpers.speed import fast_layers
from gan_helpers.training import MetricAverager, make_step

TRAIN_IMAGES = 60_000
FLAGS = ("amp", "compile", "channels_last")  # options of ours that get a row of their own
WITHOUT = {"graphs": "cuda_graphs", "reuse": "reuse_cpu_memory"}  # ours-graphs: cuda_graphs=False


class Engine:
    """Our loop, as ``training.train`` runs it: device-resident batches, fast layers and paths,
    the package's own step, a host sync every ``log_every`` steps."""

    def __init__(self, model: str, device: str, batch_size: int, **options) -> None:
        from benchmarks.reference import TEXTBOOK_SETTINGS  # the same networks as the reference's

        options = {**TEXTBOOK_SETTINGS.get(model, {}), **options}
        self.run = new_run(TrainConfig.for_model(model, device=device, batch_size=batch_size, **options))
        data = load_fashion_mnist()
        self.batches = BatchIterator(data, batch_size, device=self.run.device, drop_last=True, seed=0)
        self.layers = ExitStack()  # holds the faster layers for the worker's lifetime, as train() does
        self.layers.enter_context(fast_layers(self.run))
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
            metrics = self.step(real, labels)
            self.averager.add(metrics)
            run = self.run
            if run.ema is not None and "loss_g" in metrics:  # the weight average, as train() keeps it
                update_average(run.ema, run.generator, run.config.ema_decay, run.generator_steps)
                run.generator_steps += 1
            self.run.step += 1
            if self.run.step % self.run.config.log_every == 0:
                self.averager.pop()  # the one host sync of the window, as in train()


def loops(args: argparse.Namespace) -> list[str]:
    """'reference', 'ours' (default options), 'ours+flag+...' when flags were given, 'ours-graphs' etc."""
    chosen = [flag for flag in FLAGS if getattr(args, flag)]
    extra = ["+".join(["ours", *chosen])] if chosen else []
    without = [f"ours-{name}" for name, option in WITHOUT.items() if getattr(args, f"no_{option}")]
    return ["reference", "ours", *extra, *without]


def loop_options(loop: str) -> dict[str, bool]:
    """The TrainConfig options of one of our loops: 'ours+amp' sets amp, 'ours-graphs' clears cuda_graphs."""
    options = {flag: flag in loop.split("+") for flag in FLAGS}
    return options | {option: loop != f"ours-{name}" for name, option in WITHOUT.items()}


def serve(loop: str, model: str, args: argparse.Namespace) -> None:
    """Worker process: build and warm up one loop, then time the step counts read from stdin."""
    if loop == "reference":
        from benchmarks.reference import TextbookGAN

        trainer = TextbookGAN(model, args.device, args.batch_size)
    else:
        trainer = Engine(model, args.device, args.batch_size, **loop_options(loop))
    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    trainer.train_steps(args.warmup)
    sync()
    if args.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "done":
            break
        start = time.perf_counter()
        trainer.train_steps(int(line))
        sync()
        print(time.perf_counter() - start, flush=True)
    if args.device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux -> MiB
    print(json.dumps({"peak_mib": peak}), flush=True)


def measure_model(model: str, argv: list[str], args: argparse.Namespace) -> dict[str, dict]:
    """Start one worker per loop (one after the other), then time them in turns."""
    workers = {}
    for loop in loops(args):
        command = [sys.executable, __file__, *argv, "--worker", loop, model]
        worker = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        workers[loop] = worker
        if worker.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {loop} worker for {model} failed to start (see its error above)")
    rates = {loop: [] for loop in workers}
    for _ in range(args.repeats):
        for loop, worker in workers.items():
            worker.stdin.write(f"{args.steps}\n")
            worker.stdin.flush()
            rates[loop].append(args.steps * args.batch_size / float(worker.stdout.readline()))
    results = {}
    for loop, worker in workers.items():
        output, _ = worker.communicate("done\n")
        results[loop] = {"images_per_s": rates[loop], **json.loads(output.strip().splitlines()[-1])}
    return results


def report(results: dict, args: argparse.Namespace) -> str:
    memory = "GPU peak MiB" if args.device == "cuda" else "RSS peak MiB"
    header = ("model", "loop", "images/s", "spread", "epoch s", memory, "ours/ref")
    widths = ("<9", "<15", ">10", ">17", ">9", ">14", ">10")
    lines = ["".join(f"{h:{w}}" for h, w in zip(header, widths, strict=True))]
    for model, by_loop in results.items():
        reference = by_loop["reference"]["images_per_s"]
        for loop, result in by_loop.items():
            rates = result["images_per_s"]
            rate = statistics.median(rates)
            spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
            pairs = [ours / ref for ours, ref in zip(rates, reference, strict=True)]
            ratio = f"{statistics.median(pairs):.2f}x" if loop != "reference" else ""
            lines.append(f"{model:<9}{loop:<15}{rate:>10,.0f}{spread:>17}{TRAIN_IMAGES / rate:>9.1f}"
                         f"{result['peak_mib']:>14,.0f}{ratio:>10}")  # fmt: skip
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    default_device = "cuda" if torch.cuda.is_available() else "cpu"
    parser.add_argument("--device", choices=("cpu", "cuda"), default=default_device)
    parser.add_argument("--steps", type=int, help="timed steps per repeat (default 20 on CPU, 200 on CUDA)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--models", nargs="+", default=["mlp", "dcgan", "wgan-gp"])
    parser.add_argument("--amp", action="store_true", help="add a row: ours with bfloat16 autocast")
    parser.add_argument("--compile", action="store_true", help="add a row: ours with torch.compile")
    parser.add_argument("--channels-last", action="store_true", help="add a row: ours in NHWC layout")
    parser.add_argument("--no-cuda-graphs", action="store_true", help="add a row: ours without CUDA graphs")
    parser.add_argument("--no-reuse-cpu-memory", action="store_true", help="add a row: ours, malloc as is")
    parser.add_argument("--worker", nargs=2, metavar=("LOOP", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.steps = args.steps or (200 if args.device == "cuda" else 20)
    for name in ("steps", "repeats", "batch_size"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is visible to torch")
    return args


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    if args.worker:
        serve(*args.worker, args)
        return
    device = torch.cuda.get_device_name() if args.device == "cuda" else platform.machine()
    print(f"device: {args.device} ({device}), torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"batch {args.batch_size}, {args.warmup} warm-up + {args.repeats} x {args.steps} timed steps, "
          "loops in turns", flush=True)  # fmt: skip
    print(report({model: measure_model(model, argv, args) for model in args.models}, args))


if __name__ == "__main__":
    main()
