"""Which of the known tools lift the SN-GAN's samples at a learner's budget, over several seeds.

    python benchmarks/quality_budget.py --json benchmarks/quality_budget.json     # each change alone, 3 seeds
    python benchmarks/quality_budget.py --variants "residual D + TTUR 1:4" --json FILE    # changes combined
    python benchmarks/quality_budget.py --epochs 1 --subset 0.01 --samples 200 --seeds 0   # a quick look
    python benchmarks/quality_budget.py --report --json FILE     # the table of the runs FILE holds so far

Every variant is chapter 08's SN-GAN (the DCGAN's networks, hinge loss, spectral norm, R1,
batches of 32, the weight average) with the changes its name lists, joined by " + " (``CHANGES``).
All train for the same number of generator steps: ``--epochs`` epochs of batches of 32, so a
variant with batches of 64 trains twice as many epochs (a batch fewer per epoch where the last
one would be short: 1,874 of 1,875 on all 60,000 images). Each run's weight average draws
``--samples`` images, scored against as many training images: the FD in both feature spaces
(the classifier's and the label-free encoder's), and recall in both (precision beside it).

A run is kept in ``--runs-dir`` and continued from its last checkpoint if it was stopped (resume
is exact on the CPU; its seconds are then the whole run's at the last sitting's pace); ``--json`` keeps every
finished run, so the same command finishes a table, and two commands (say, other seeds) may add
to one file at once.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrizations

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.records import check_writable, read_record, update_record
from benchmarks.stabilizers import name_width, summarize
from gan_helpers.config import SAMPLES_DIR, TrainConfig
from gan_helpers.evaluation import SPACES, Reference, evaluate_images, score_name
from gan_helpers.models import IMAGE_SHAPE, SIDES, DCGANGenerator, Shape, SNDiscriminator, downsampling
from gan_helpers.runs import FOLDER_FIELDS, config_changes, load_run, new_run, read_checkpoint
from gan_helpers.sampling import metric_samples
from gan_helpers.training import train

BASE_BATCH = 32  # the SN-GAN's; the budget is counted in its epochs


class ResidualBlock(nn.Module):
    """x + conv(act(conv(x))): two 3x3 convolutions that keep the side and the channels. The
    skip lets the block start near the identity, so depth adds detail without stalling the start."""

    def __init__(self, channels: int, layer: Callable[[nn.Module], nn.Module] = lambda layer: layer) -> None:
        super().__init__()
        self.body = nn.Sequential(
            layer(nn.Conv2d(channels, channels, 3, padding=1)),
            nn.LeakyReLU(0.2),
            layer(nn.Conv2d(channels, channels, 3, padding=1)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResidualSNDiscriminator(nn.Module):
    """The SN discriminator's strided convolutions, then ``blocks`` residual blocks at the
    coarsest side (7x7 for 28 pixels), every weighted layer under spectral norm: more capacity
    where the garment's details are, for a few times the discriminator's arithmetic."""

    def __init__(self, width: int = 64, blocks: int = 2, image_shape: Shape = IMAGE_SHAPE) -> None:
        super().__init__()
        normed = parametrizations.spectral_norm
        path = downsampling(image_shape, width, layer=normed)  # ..., LeakyReLU, Flatten, Linear
        top = width * 2 ** (SIDES[image_shape[1]][1] - 1)  # the coarsest maps' channels
        residual = [
            module for _ in range(blocks) for module in (ResidualBlock(top, normed), nn.LeakyReLU(0.2))
        ]
        self.net = nn.Sequential(*path[:-2], *residual, *path[-2:])

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten()


# Each change: TrainConfig fields, and the networks it builds from the run's config (``BUILT``).
CHANGES = {
    "SN-GAN": {},  # chapter 08's recipe as it ships
    "D x2 wide": {"discriminator": lambda config: SNDiscriminator(width=128)},
    "residual D": {"discriminator": lambda config: ResidualSNDiscriminator()},
    "G x2 wide": {"generator": lambda config: DCGANGenerator(config.latent_dim, width=128)},
    "diff": {"augment": "diff"},  # chapter 10's differentiable augmentation
    "TTUR 1:4": {"lr_g": 1e-4, "lr_d": 4e-4},  # Heusel et al.: the discriminator learns faster
    "rates 2e-4": {"lr_g": 2e-4, "lr_d": 2e-4},
    "EMA 0.9999": {"ema_decay": 0.9999},
    "EMA start 5000": {"ema_start": 5000},  # the average copies the first 5,000 updates
    "batch 64": {"batch_size": 64},
    "no R1": {"r1_weight": 0.0},
    "lr decay": {"lr_decay": 1.0},  # both rates fall linearly to 0 over the budget (SN-GAN paper's code)
}
BUILT = ("generator", "discriminator")


def parse_variant(name: str) -> tuple[str, dict]:
    """A variant's name written the one way (its changes in ``CHANGES``'s order, joined by " + ")
    and its merged changes; ValueError for an unknown change or two that set the same thing."""
    parts = [part.strip() for part in name.split("+")]
    unknown = [part for part in parts if part not in CHANGES]
    if unknown:
        raise ValueError(
            f"unknown change {unknown[0]!r} in {name!r}; join any of: {', '.join(map(repr, CHANGES))}"
        )
    ordered = sorted(set(parts), key=list(CHANGES).index)
    changes: dict = {}
    for part in ordered:
        clash = sorted(set(changes) & set(CHANGES[part]))
        if clash:
            raise ValueError(
                f"{name!r}: {part!r} and an earlier change both set {', '.join(clash)}; keep one"
            )
        changes.update(CHANGES[part])
    return " + ".join(ordered), changes


def variant_config(name: str, seed: int, args: argparse.Namespace) -> tuple[TrainConfig, dict]:
    """The run's config (same generator steps as ``args.epochs`` at batches of 32) and what its
    changes build from it: networks to pass to ``new_run``."""
    changes = parse_variant(name)[1]
    fields = {key: value for key, value in changes.items() if key not in BUILT}
    batch = fields.get("batch_size", BASE_BATCH)
    config = TrainConfig.for_model(
        "sngan", **fields, num_epochs=args.epochs * batch // BASE_BATCH, seed=seed, device=args.device,
        subset=args.subset, output_dir=str(args.runs_dir), run_name=run_name(name, seed, args),
        quality_every=0, sample_every=args.epochs, log_every=10_000,
    )  # fmt: skip
    return config, {key: changes[key](config) for key in BUILT if key in changes}


def run_name(variant: str, seed: int, args: argparse.Namespace) -> str:
    """The run's folder: the variant, the budget and the seed (a stopped run is continued only
    by the same command, never finished at another budget)."""
    words = "".join(letter if letter.isalnum() else " " for letter in variant.lower()).split()
    return "-".join([*words, f"{args.epochs}ep", f"subset{args.subset:g}", f"seed{seed}"])


def check_same_settings(checkpoint: Path, config: TrainConfig) -> None:
    """A stopped run is continued only if it was started with the settings asked for now."""
    ignore = (*FOLDER_FIELDS, "num_epochs")  # the folder's name holds the budget
    changes = config_changes(read_checkpoint(checkpoint)["config"], config.to_dict(), ignore)
    if changes:
        raise SystemExit(
            f"{checkpoint} was started with other settings than asked now: {', '.join(changes)}; "
            "delete its folder or give another --runs-dir"
        )


def run_variant(name: str, seed: int, args: argparse.Namespace) -> dict:
    """Train (or finish) one variant from ``seed``; its scores, generator steps and seconds."""
    config, networks = variant_config(name, seed, args)
    checkpoint = Path(config.output_dir) / config.run_name / "checkpoint.pt"
    resumed = checkpoint.is_file()
    if resumed:
        check_same_settings(checkpoint, config)
    run = (
        load_run(checkpoint, num_epochs=config.num_epochs, **networks)
        if resumed
        else new_run(config, **networks)
    )
    start, steps_before = time.perf_counter(), run.generator_steps
    run = train(run, progress=False)
    if not run.finished:  # Ctrl-C: the checkpoint is saved, and a part of a run is no row of the table
        raise SystemExit(f"{name} seed {seed} stopped at generator step {run.generator_steps}; "
                         "the same command continues it")  # fmt: skip
    sitting, trained = time.perf_counter() - start, run.generator_steps - steps_before
    # A resumed run's earlier sittings were not timed: the whole run at this sitting's pace (None
    # where this sitting trained nothing, as for a run stopped while it was being scored).
    seconds = sitting * run.generator_steps / trained if trained else None
    images = metric_samples(run.ema if run.ema is not None else run.generator.eval(), args.samples, seed)
    scores = {"steps": run.generator_steps, "seconds": seconds, "resumed": resumed}
    for reference in args.references:
        row = evaluate_images(images, reference)
        scores |= {  # fd, fd_encoder, recall, ...
            score_name(key.lower(), reference.space): row[key] for key in ("FD", "precision", "recall")
        }
    return scores


def recall_lines(results: dict[str, list[dict]]) -> str:
    """Recall (and precision) per variant in each space: mean (min-max) over the seeds."""
    width = name_width(results)
    lines = [
        f"{'variant':<{width}}" + "".join(f"{space + ' recall':>24}{'precision':>11}" for space in SPACES)
    ]
    for name, runs in results.items():
        cells = ""
        for space in SPACES:
            recalls = [run[score_name("recall", space)] for run in runs]
            precision = statistics.mean(run[score_name("precision", space)] for run in runs)
            cells += (
                f"{statistics.mean(recalls):>10.3f} ({min(recalls):.3f}-{max(recalls):.3f}){precision:>11.3f}"
            )
        lines.append(f"{name:<{width}}{cells}")
    return "\n".join(lines)


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    """The command line, checked (variants written the one way) before anything is loaded or trained."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--variants", nargs="+", metavar="NAME",
                        help='changes joined by " + "; default: each alone (--report: all)')  # fmt: skip
    parser.add_argument("--epochs", type=int, default=10, help="the budget, in epochs of batches of 32")
    parser.add_argument("--subset", type=float, default=1.0, help="share of the training set (default all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--samples", type=int, default=10_000, help="samples (and real images) per score")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--runs-dir", type=Path, default=SAMPLES_DIR / "quality-budget")
    parser.add_argument("--json", type=Path, help="keep every run here; runs already in it are not repeated")
    parser.add_argument("--report", action="store_true", help="the table of --json's runs; train nothing")
    args = parser.parse_args(argv)
    if args.report and not (args.json and args.json.is_file()):
        parser.error("--report prints the runs a record holds: give --json and a file this script wrote")
    if args.epochs < 1 or args.samples < 20 or not 0 < args.subset <= 1:
        parser.error("--epochs must be at least 1, --samples at least 20 and --subset in (0, 1]")
    try:
        named = args.variants or ([] if args.report else list(CHANGES))
        args.variants = list(dict.fromkeys(parse_variant(name)[0] for name in named))
    except ValueError as error:
        parser.error(str(error))
    if args.json and not args.report:
        check_writable(args.json)
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_arguments(argv)
    setting = (
        f"{args.epochs} epochs of batches of {BASE_BATCH}, subset {args.subset:g}, {args.samples} samples"
    )
    record = read_record(args.json, {}) if args.json else {}
    if args.report:  # whatever budget the record is of
        print(f"SN-GAN variants, {record.get('setting', 'no runs')}, finished runs of seeds {args.seeds}")
        print(report(record.get("runs", {}), args.variants, args.seeds))
        return
    if record.get("setting", setting) != setting:
        raise SystemExit(
            f"{args.json} holds runs of {record['setting']}; give another --json file for {setting}"
        )
    print(f"SN-GAN variants, {setting}, seeds {args.seeds}, {args.device}", flush=True)
    args.references = [
        Reference.build(count=args.samples, device=args.device, space=space) for space in SPACES
    ]
    runs = record.get("runs", {})
    for name in args.variants:
        for seed in args.seeds:
            key = run_key(name, seed)
            if args.json:  # another command may have finished it meanwhile
                runs = read_record(args.json, {}).get("runs", {}) | runs
            if key not in runs:
                scores = runs[key] = run_variant(name, seed, args)
                if args.json:  # after every run: an interrupted table loses at most the one running
                    update_record(args.json, lambda old, new={key: scores}: add_runs(old, setting, new), {})
            print_run(name, seed, runs[key])
    table = {name: [runs[run_key(name, seed)] for seed in args.seeds] for name in args.variants}
    print(summarize(table))
    print(recall_lines(table), flush=True)


def report(runs: dict[str, dict], variants: list[str], seeds: list[int]) -> str:
    """The table of the finished runs of ``seeds`` (of ``variants``, or of all), each variant
    named with how many seeds it has so far."""
    table: dict[str, list[dict]] = {}
    for name in variants or list(dict.fromkeys(key.rsplit(RUN_KEY_JOIN, 1)[0] for key in runs)):
        finished = [runs[run_key(name, seed)] for seed in seeds if run_key(name, seed) in runs]
        if finished:
            table[f"{name} ({len(finished)} seed{'s' * (len(finished) > 1)})"] = finished
    if not table:
        return "no finished runs of these variants and seeds yet"
    alone = [name for name, finished in table.items() if len(finished) == 1]
    caution = f"\none seed has no spread yet, so the lines above decide nothing for: {', '.join(alone)}"
    return f"{summarize(table)}{caution if alone else ''}\n{recall_lines(table)}"


RUN_KEY_JOIN = " | "  # a run's key in the record: "TTUR 1:4 | 0"


def run_key(variant: str, seed: int) -> str:
    """A run's key in the record: the variant's name and the seed."""
    return f"{variant}{RUN_KEY_JOIN}{seed}"


def add_runs(record: dict, setting: str, new: dict) -> dict:
    """The record as it is on disk, with the ``new`` finished runs added."""
    return {"setting": setting, "runs": {**record.get("runs", {}), **new}}


def print_run(name: str, seed: int, scores: dict) -> None:
    """One finished run's line: both FDs, recall, the generator steps and the training seconds."""
    pace = " (resumed: at the last sitting's pace)" if scores.get("resumed") else ""
    seconds = (
        "not timed (trained in earlier sittings)" if scores["seconds"] is None
        else f"{scores['seconds']:.0f} s{pace}"
    )  # fmt: skip
    print(f"{name} seed {seed}: FD {scores['fd']:6.2f} (classifier) {scores['fd_encoder']:6.3f} (encoder), "
          f"recall {scores['recall']:.3f}, {scores['steps']} generator steps, {seconds}",
          flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
