"""Command line for headless and long runs.

python -m gan_helpers train {mlp,dcgan,wgan-gp,cgan} [--dataset D --epochs N --lr LR ...]
python -m gan_helpers export CHECKPOINT OUTPUT
"""

from __future__ import annotations

import argparse
import sys

import matplotlib

from gan_helpers.config import DEVICES, SAMPLES_DIR, ClassifierConfig, TrainConfig, pick_device
from gan_helpers.data import DATASETS, load_fashion_mnist
from gan_helpers.evaluation import evaluate_paths
from gan_helpers.models import MODEL_KINDS
from gan_helpers.runs import export_generator, load_run, new_run, save_classifier
from gan_helpers.training import TrainingDivergedError, train, train_classifier, write_report


def build_parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    parser = argparse.ArgumentParser(prog="python -m gan_helpers", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a GAN on Fashion-MNIST (or another MNIST-format dataset)",
        description="Train a GAN; writes sample grids, loss curves, history.json and "
        "checkpoint.pt under OUTPUT_DIR/RUN_NAME/. Unset options take the model's defaults.",
    )
    train.add_argument("model", choices=MODEL_KINDS, help="which GAN to train")
    train.add_argument("--dataset", choices=tuple(DATASETS), help="training data (default fashion-mnist)")
    train.add_argument("--epochs", type=int, help="passes over the training set")
    train.add_argument("--batch-size", type=int, help="images per batch (default 128)")
    train.add_argument("--lr", type=float, help="learning rate of both networks")
    train.add_argument("--lr-g", type=float, help="generator learning rate (overrides --lr)")
    train.add_argument("--lr-d", type=float, help="discriminator/critic learning rate")
    train.add_argument("--betas", type=float, nargs=2, help="Adam betas, e.g. 0.5 0.999")
    train.add_argument("--latent-dim", type=int, help="size of the noise vector z (default 100)")
    train.add_argument("--n-critic", type=int, help="WGAN-GP: critic steps per generator step")
    train.add_argument("--gp-weight", type=float, help="WGAN-GP: gradient-penalty weight lambda")
    train.add_argument("--seed", type=int, help="fixes weights, noise and data order (default 0)")
    train.add_argument("--device", choices=DEVICES, help="where to train (default auto)")
    train.add_argument("--subset", type=float, help="share of the training set, in (0, 1]")
    train.add_argument("--data-root", help="where Fashion-MNIST is kept (default: the repository's data/)")
    train.add_argument("--output-dir", help="parent folder of the run (default: generated_samples/)")
    train.add_argument("--run-name", help="folder name of the run (default: the model name)")
    train.add_argument("--log-every", type=int, help="batches between history entries")
    train.add_argument("--resume", metavar="PATH", help="continue from a checkpoint.pt")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    for flag, what in (("--amp", "bfloat16 autocast"), ("--compile", "torch.compile the networks"),
                       ("--channels-last", "NHWC memory layout")):  # fmt: skip
        train.add_argument(flag, action="store_true", default=None, help=f"speed: {what} (see benchmarks/)")
    train.add_argument(
        "--no-cuda-graphs", dest="cuda_graphs", action="store_false", default=None,
        help="on a GPU, launch each kernel from Python instead of replaying CUDA graphs",
    )  # fmt: skip
    export = commands.add_parser(
        "export", help="keep only the generator of a checkpoint, in fp16 (for shipping)"
    )
    export.add_argument("checkpoint", help="a checkpoint.pt written by train")
    export.add_argument("output", help="where to write, e.g. gan_helpers/weights/dcgan.pt")
    classify = commands.add_parser(
        "train-classifier", help="train the Fashion-MNIST classifier behind the quality metrics"
    )
    classify.add_argument("--epochs", type=int, default=15, help="passes over the data (default 15)")
    classify.add_argument("--batch-size", type=int, default=128, help="images per batch (default 128)")
    classify.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default 2e-3)")
    classify.add_argument("--seed", type=int, default=0, help="fixes weights and data order (default 0)")
    classify.add_argument("--device", choices=DEVICES, default="auto", help="where to train")
    classify.add_argument(
        "--output", default=str(SAMPLES_DIR / "classifier.pt"), help="where to save the weights"
    )
    evaluate = commands.add_parser(
        "evaluate", help="quality metrics of generators, with a real-data row for comparison"
    )
    evaluate.add_argument(
        "paths", nargs="+", metavar="PATH", help="generator files (checkpoint or export) or mlp/dcgan/wgan-gp"
    )
    evaluate.add_argument("--samples", type=int, default=10_000, help="samples per row (default 10000)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise and subset seed (default 0)")
    evaluate.add_argument("--inception", action="store_true", help="also Inception FID (needs torchmetrics)")
    return parser


def config_from_args(args: argparse.Namespace) -> dict:
    """The config fields the user set on the command line."""
    names = {
        "epochs": "num_epochs", "batch_size": "batch_size", "lr_g": "lr_g", "lr_d": "lr_d",
        "betas": "betas", "latent_dim": "latent_dim", "n_critic": "n_critic",
        "gp_weight": "gp_weight", "seed": "seed", "device": "device", "subset": "subset",
        "data_root": "data_root", "output_dir": "output_dir", "run_name": "run_name",
        "log_every": "log_every", "dataset": "dataset", "amp": "amp", "compile": "compile",
        "channels_last": "channels_last", "cuda_graphs": "cuda_graphs",
    }  # fmt: skip
    values = {field: getattr(args, arg) for arg, field in names.items()}
    if args.lr is not None:
        values["lr_g"] = values["lr_g"] or args.lr
        values["lr_d"] = values["lr_d"] or args.lr
    return {field: value for field, value in values.items() if value is not None}


def run_train(args: argparse.Namespace) -> int:
    """The ``train`` command: a new run, or a checkpoint continued."""
    overrides = config_from_args(args)
    if args.resume:
        run = load_run(args.resume, **overrides)
        if run.config.model != args.model:
            raise ValueError(f"{args.resume} is a {run.config.model!r} run, not {args.model!r}")
    else:
        run = new_run(TrainConfig.for_model(args.model, **overrides))
    print(f"Training {run.config.model} on {run.device} -> {run.run_dir}/", flush=True)
    try:
        train(run, progress=not args.quiet)
    except TrainingDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    finally:
        write_report(run)
    print(f"Done: epoch {run.epoch}/{run.config.num_epochs}. Files in {run.run_dir}/")
    return 0


def run_train_classifier(config: ClassifierConfig, output: str) -> float:
    """The ``train-classifier`` command: train, report test accuracy, save."""
    device = pick_device(config.device)
    train_split, test_split = load_fashion_mnist(train=True), load_fashion_mnist(train=False)
    model, accuracy = train_classifier(config, train_split, test_split, device)
    print(f"saved {save_classifier(model.cpu(), config, accuracy, output)} (test accuracy {accuracy:.2%})")
    return accuracy


def main(argv: list[str] | None = None) -> int:
    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "evaluate":
            print(evaluate_paths(args.paths, args.samples, args.seed, args.inception))
            return 0
        if args.command == "train-classifier":
            config = ClassifierConfig(args.epochs, args.batch_size, args.lr, args.seed, args.device)
            run_train_classifier(config, args.output)
            return 0
        if args.command == "export":
            print(f"wrote {export_generator(args.checkpoint, args.output)}")
            return 0
        return run_train(args)
    except (ValueError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
