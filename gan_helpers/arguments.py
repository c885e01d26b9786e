"""The command line's commands and their options (argparse); ``gan_helpers.cli`` runs them."""

from __future__ import annotations

import argparse

from gan_helpers.augment import AUGMENTS
from gan_helpers.checks import DEVICES
from gan_helpers.config import SAMPLES_DIR
from gan_helpers.data import DATASETS
from gan_helpers.image_folder import CHANNELS, IMAGE_SIZES
from gan_helpers.kinds import MODEL_KINDS
from gan_helpers.losses import LOSSES

SHIPPED = ", ".join(MODEL_KINDS)  # every kind ships trained weights under its own name

USAGE = f"""\
python -m gan_helpers train {{{",".join(MODEL_KINDS)}}} [--dataset D --epochs N --lr LR ...]
python -m gan_helpers export CHECKPOINT OUTPUT [--best --overwrite]
python -m gan_helpers sample GENERATOR --count N --seed S --out FILE.png|FILE.pt|FOLDER [--class C]
python -m gan_helpers invert IMAGE --model GENERATOR --out FILE.png
python -m gan_helpers evaluate GENERATOR [...] [--data-dir DIR --encoder FILE]
python -m gan_helpers train-classifier [--epochs N --seed S --output FILE]
python -m gan_helpers train-encoder [--method contrastive|autoencoder --epochs N --seed S --output FILE]
python -m gan_helpers train-encoder --data-dir DIR [--image-size 28|32|64 --channels 1|3]

Bad input is one ``error:`` line and exit status 2; a full disk, or a diverged run, status 1;
Ctrl-C, status 130.
"""


FIELD_OF_OPTION = {"epochs": "num_epochs"}  # the one option whose config field has another name


def flags_of(parser: argparse.ArgumentParser) -> dict[str, str]:
    """Each config field a command's options set, and the flag that sets it (``num_epochs`` ->
    ``--epochs``), so a refusal can name what the user typed."""
    return {
        FIELD_OF_OPTION.get(action.dest, action.dest): action.option_strings[0]
        for action in parser._actions  # argparse keeps no public list of a parser's options
        if action.option_strings and action.dest != "help"
    }


def add_folder_options(command: argparse.ArgumentParser, what: str) -> None:
    """``--data-dir`` and the size and colour its images are read at."""
    command.add_argument("--data-dir", metavar="DIR", help=what)
    folder_help = {
        "--image-size": (IMAGE_SIZES, "--data-dir: pixels a side (default 32)"),
        "--channels": (CHANNELS, "--data-dir: 1 grey, 3 colour (default 3 if any image has colour)"),
    }
    for flag, (choices, help_text) in folder_help.items():
        command.add_argument(flag, type=int, choices=choices, help=help_text)


def build_parser() -> argparse.ArgumentParser:
    """The commands and their options."""
    parser = argparse.ArgumentParser(
        prog="python -m gan_helpers", description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser(
        "train",
        help="train a GAN on Fashion-MNIST, another MNIST-format dataset, or a folder of your own images",
        description="Train a GAN; writes sample grids, loss curves, history.json and "
        "checkpoint.pt under OUTPUT_DIR/RUN_NAME/. Unset options take the model's defaults.",
    )
    train.add_argument("model", choices=MODEL_KINDS, help="which GAN to train")
    train.add_argument("--dataset", choices=tuple(DATASETS), help="training data (default fashion-mnist)")
    train.add_argument("--epochs", type=int, help="passes over the training set")
    train.add_argument("--batch-size", type=int, help="images per batch (default 128; DCGAN 32)")
    train.add_argument("--lr", type=float, help="learning rate of both networks")
    train.add_argument("--lr-g", type=float, help="generator learning rate (overrides --lr)")
    train.add_argument("--lr-d", type=float, help="discriminator/critic learning rate")
    train.add_argument(
        "--lr-decay", type=float,
        help="share of the run, at its end, over which both rates fall linearly to 0 (default 0: none; "
        "1: from the first batch)",
    )  # fmt: skip
    train.add_argument("--betas", type=float, nargs=2, help="Adam betas, e.g. 0.5 0.999")
    train.add_argument("--latent-dim", type=int, help="size of the noise vector z (default 100)")
    train.add_argument("--n-critic", type=int, help="WGAN-GP: critic steps per generator step")
    train.add_argument("--gp-weight", type=float, help="WGAN-GP: gradient-penalty weight lambda")
    train.add_argument("--loss", choices=tuple(LOSSES), help="SN-GAN: both players' losses (default hinge)")
    train.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        help="SN-GAN: spectral norm in D (default on)",
    )
    train.add_argument("--r1-weight", type=float, help="SN-GAN: R1 penalty weight gamma (0: off)")
    train.add_argument("--dropout", type=float, help="discriminator dropout (DCGAN default 0, cGAN 0.3)")
    train.add_argument("--seed", type=int, help="fixes weights, noise and data order (default 0)")
    train.add_argument("--device", choices=DEVICES, help="where to train (default auto)")
    train.add_argument("--subset", type=float, help="share of the training set, in (0, 1]")
    add_folder_options(
        train, "train on your own images: any folder of PNG/JPEG/BMP/WebP files, searched recursively; "
        "one subfolder per class makes classes (for cgan); one image in ten is held out for evaluate",
    )  # fmt: skip
    train.add_argument(
        "--augment", choices=AUGMENTS,
        help="augment real and fake images before the discriminator: diff (always) or adaptive (as much as "
        "it overfits); for little data (default none)",
    )  # fmt: skip
    train.add_argument(
        "--data-root", help="where the datasets, and the cache of --data-dir, are kept (default: data/)"
    )
    train.add_argument("--output-dir", help="parent folder of the run (default: generated_samples/)")
    train.add_argument("--run-name", help="folder name of the run (default: the model name)")
    train.add_argument("--log-every", type=int, help="batches between history entries")
    train.add_argument("--ema-decay", type=float, help="weight average's decay (default 0.999; 0: off)")
    train.add_argument("--ema-start", type=int, help="generator steps before the average starts (default 0)")
    train.add_argument("--quality-every", type=int, help="epochs between FD measurements (default 1; 0: off)")
    train.add_argument("--quality-samples", type=int, help="samples per FD measurement (default 2000)")
    train.add_argument(
        "--resume", metavar="PATH",
        help="continue from a checkpoint.pt, in its folder unless --output-dir/--run-name say otherwise; "
        "every option given applies and each change is printed",
    )  # fmt: skip
    train.add_argument(
        "--overwrite", action="store_true", help="replace a run already in the folder (default: refuse)"
    )
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
    export.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    export.add_argument(
        "--best", action="store_true", help="the epoch with the lowest tracked FD, not the last one"
    )
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
    classify.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    encode = commands.add_parser(
        "train-encoder", help="train the label-free encoder behind the metrics' second feature space"
    )
    encode.add_argument("--method", choices=("contrastive", "autoencoder"), default="contrastive",
                        help="what it learns from (default contrastive)")  # fmt: skip
    encode.add_argument(
        "--epochs", type=int, help="passes over the data (default 10; --data-dir: about 1500 batches' worth)"
    )
    encode.add_argument("--seed", type=int, default=0, help="fixes weights, data order and views (default 0)")
    encode.add_argument("--device", choices=DEVICES, default="auto", help="where to train")
    add_folder_options(encode, "train on your own images' training part (what evaluate --data-dir uses)")
    encode.add_argument("--data-root", help="--data-dir: where its cache is kept (default: data/)")
    encode.add_argument(
        "--output", help=f"where to save the weights (default {SAMPLES_DIR / 'encoder.pt'}; --data-dir: "
        "beside the folder's cache, where evaluate --data-dir looks)",
    )  # fmt: skip
    encode.add_argument("--overwrite", action="store_true", help="replace --output if it exists")
    evaluate = commands.add_parser(
        "evaluate", help="quality metrics of generators, with a real-data row for comparison"
    )
    evaluate.add_argument(
        "paths", nargs="+", metavar="PATH",
        help=f"generator files (checkpoint or export) or shipped generators: {SHIPPED}",
    )
    evaluate.add_argument(
        "--samples", type=int, help="samples per row (default 10000; --data-dir: its held-out images' count)"
    )
    evaluate.add_argument(
        "--data-dir", metavar="DIR",
        help="measure against a folder of your own images (its held-out tenth, in an encoder trained on it)",
    )
    evaluate.add_argument(
        "--encoder", metavar="FILE",
        help="--data-dir: the encoder's weights (default: the folder's own, trained on first use)",
    )
    evaluate.add_argument("--data-root", help="--data-dir: where its cache is kept (default: data/)")
    evaluate.add_argument("--seed", type=int, default=0, help="noise and subset seed (default 0)")
    evaluate.add_argument("--inception", action="store_true", help="also Inception FID (needs torchmetrics)")
    sample = commands.add_parser(
        "sample", help="draw images from a generator: a PNG grid, a folder of PNGs, or a tensor file"
    )
    sample.add_argument("generator", help=f"a shipped generator ({SHIPPED}) or a checkpoint/export file")
    sample.add_argument("--count", type=int, default=100, help="how many images (default 100)")
    sample.add_argument("--seed", type=int, default=0, help="noise seed: the same seed, the same images")
    sample.add_argument(
        "--out", required=True,
        help="FILE.png (or .jpg, ...): one grid; FILE.pt: a [N, C, H, W] tensor in [-1, 1] ([N, 1, 28, 28] "
        "for Fashion-MNIST); "
        "a name without a suffix: a new folder of PNGs",
    )  # fmt: skip
    sample.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    sample.add_argument("--class", dest="label", help="conditional GAN only: a class name or number")
    invert = commands.add_parser(
        "invert", help="find the latent vector whose image is closest to an image file"
    )
    invert.add_argument("image", help="any image file PIL reads (PNG, JPEG, ...)")
    invert.add_argument(
        "--model", default="dcgan", help=f"a shipped generator ({SHIPPED}) or a checkpoint/export file"
    )
    invert.add_argument(
        "--out", required=True, help="FILE.png (or .jpg, ...); the latent vector goes to FILE.pt"
    )
    invert.add_argument("--steps", type=int, default=500, help="gradient steps (default 500)")
    invert.add_argument("--starts", type=int, default=4, help="random starting points (default 4)")
    invert.add_argument("--seed", type=int, default=0, help="seed of the starting points (default 0)")
    invert.add_argument("--overwrite", action="store_true", help="replace --out and its .pt if they exist")
    for command in commands.choices.values():  # what a refusal calls each setting (cli.worded)
        command.set_defaults(flags=flags_of(command))
    return parser
