"""The command line: each command checks all its arguments, then does its work (the commands
and their options: ``gan_helpers.arguments``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path

import matplotlib
import torch
from torch import nn

from gan_helpers.arguments import FIELD_OF_OPTION, build_parser
from gan_helpers.checks import RefusalError, SettingError, check_seed, integer, number
from gan_helpers.classifier import ClassifierConfig, load_classifier, save_classifier, train_classifier
from gan_helpers.config import SAMPLES_DIR, TrainConfig
from gan_helpers.data import DATA_DIR, load_fashion_mnist
from gan_helpers.encoder import (
    EncoderConfig,
    encoder_for_folder,
    encoder_state,
    folder_config,
    folder_encoder_path,
    load_encoder,
    train_encoder,
)
from gan_helpers.evaluation import check_held_out, evaluation_report, folder_report
from gan_helpers.files import DiskFullError, atomic_save
from gan_helpers.image_folder import FolderData, load_image_folder
from gan_helpers.images import image_formats, on_dark_background, read_image, save_grid
from gan_helpers.latent import invert
from gan_helpers.models import IMAGE_SHAPE, image_shape_of, is_conditional, shape_text
from gan_helpers.runs import load_run, new_run, pick_device
from gan_helpers.sampling import generate
from gan_helpers.training import TrainingDivergedError, train
from gan_helpers.weights import check_output, export_generator, load_any, source_path

OPTION_OF_FIELD = {field: option for option, field in FIELD_OF_OPTION.items()}


def config_from_args(args: argparse.Namespace) -> dict:
    """The config fields the user set on the command line (``--lr`` fills the rates not given)."""
    fields = {field.name for field in dataclasses.fields(TrainConfig)}
    given = [field for field in args.flags if field in fields]
    values = {field: getattr(args, OPTION_OF_FIELD.get(field, field)) for field in given}
    if args.lr is not None:
        number("lr", args.lr, 0.0, 1.0)
    for field in ("lr_g", "lr_d"):
        if values[field] is None:  # `is None`, not `or`: a zero must reach the check and be refused
            values[field] = args.lr
    return {field: value for field, value in values.items() if value is not None}


def worded(error: ValueError, flags: dict[str, str]) -> str:
    """An error in the command line's words: the flag the user typed (``--epochs 0: ...`` for
    ``TrainConfig.num_epochs = 0``) and the fix as a command takes it."""
    if isinstance(error, RefusalError):
        return error.command_line
    if isinstance(error, SettingError) and error.field in flags:
        value = error.value
        shown = " ".join(map(str, value)) if isinstance(value, (tuple, list)) else str(value)
        return f"{flags[error.field]} {shown}: {error.rule}"
    return str(error)


def run_train(args: argparse.Namespace) -> int:
    """The ``train`` command: a new run, or a checkpoint continued. Checks everything first."""
    overrides = config_from_args(args)
    if args.resume:
        run = load_run(args.resume, **overrides)
        if run.config.model != args.model:
            raise ValueError(f"{args.resume} is a {run.config.model!r} run, not {args.model!r}")
        if run.finished:
            raise ValueError(
                f"{args.resume} has already trained {run.epoch} of {run.config.num_epochs} epochs; "
                f"pass a larger --epochs (say --epochs {run.epoch + 5}) to train longer"
            )
    else:
        run = new_run(TrainConfig.for_model(args.model, **overrides))
    for change in run.changes:
        print(f"Resuming with {change}", flush=True)
    if not run.config.data_dir and not Path(run.config.data_root).exists():
        print(f"{run.config.data_root} does not exist yet: the data will be put there", flush=True)
    print(f"Training {run.config.model} on {run.device} -> {run.run_dir}/", flush=True)
    try:
        train(run, progress=not args.quiet, overwrite=args.overwrite)
    except (TrainingDivergedError, DiskFullError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if not run.finished:  # Ctrl-C: a checkpoint was saved after the current batch
        print(
            f"Stopped at epoch {run.epoch + 1}, batch {run.batch}. Continue with:\n"
            f"  python -m gan_helpers train {run.config.model} --resume {run.checkpoint_path}",
            file=sys.stderr,
        )
        return 130
    print(f"Done: epoch {run.epoch}/{run.config.num_epochs}. Files in {run.run_dir}/")
    return 0


def evaluate_paths(paths: list[str], samples: int = 10_000, seed: int = 0, inception: bool = False) -> str:
    """The ``evaluate`` command: a table for generator files (or shipped names) and real data."""
    if not 20 <= samples <= 60_000:
        raise SettingError("samples", samples, "must be from 20 to 60000 (the training images compared with)")
    check_seed(seed)
    return evaluation_report(load_generators(paths), samples, seed, inception)


def load_generators(paths: list[str]) -> dict[str, nn.Module]:
    """Every generator of ``evaluate``, by the name typed (a repeat keeps its own row), each file
    checked before any work."""
    generators = {}
    for position, path in enumerate(paths, start=1):
        label = path if path not in generators else f"{path} (#{position})"
        generators[label] = load_any(path)
    return generators


def check_sample_output(out: Path, source: Path, overwrite: bool) -> None:
    """``--out``: a new folder (no suffix), a ``.pt`` file or an image file PIL writes."""
    suffix, formats = out.suffix.lower(), image_formats()
    if suffix and suffix != ".pt" and suffix not in formats:
        raise ValueError(
            f"--out {out}: unknown file type {out.suffix!r}; give FILE.pt, an image file "
            f"({', '.join(formats)}) or a new folder's name without a suffix"
        )
    if not suffix and out.exists():
        raise ValueError(f"--out {out} exists; give a new folder for single PNGs, or a .png or .pt file")
    if suffix and out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name ending in {out.suffix}")
    if suffix:
        check_output(out, [source], overwrite)


def run_sample(args: argparse.Namespace) -> str:
    """The ``sample`` command: checks every argument, then draws and writes the images."""
    integer("count", args.count, 1, 100_000)
    check_seed(args.seed)
    out = Path(args.out)
    check_sample_output(out, source_path(args.generator), args.overwrite)
    generator = load_any(args.generator)
    labels = None
    if args.label is not None:
        if not is_conditional(generator):
            raise ValueError(f"--class: {args.generator} is not a conditional generator; leave --class out")
        names = list(generator.class_names)
        number = int(args.label) if args.label.isdecimal() and args.label.isascii() else -1
        label = names.index(args.label) if args.label in names else number
        if not 0 <= label < len(names):
            choices = f"a number from 0 to {len(names) - 1} or one of {', '.join(names)}"
            raise ValueError(f"--class {args.label!r}: choose {choices}")
        labels = torch.full((args.count,), label)
    images = generate(generator, args.count, seed=args.seed, labels=labels)
    if out.suffix.lower() == ".pt":
        atomic_save(images, out)
    elif out.suffix:
        save_grid(images, out, nrow=min(10, args.count))
    else:
        out.mkdir(parents=True)
        for index, image in enumerate(images):
            save_grid(image.unsqueeze(0), out / f"sample_{index:05d}.png", nrow=1)
    return f"wrote {args.count} images to {out}"


def run_invert(args: argparse.Namespace) -> str:
    """The ``invert`` command: checks every argument, inverts the image, writes FILE.png and FILE.pt."""
    integer("steps", args.steps, 1, 10_000)
    integer("starts", args.starts, 1, 64)
    check_seed(args.seed)
    out = Path(args.out)
    if out.suffix.lower() not in image_formats():
        raise ValueError(
            f"--out {out}: give an image file ({', '.join(image_formats())}); z goes beside it as .pt"
        )
    latent_file = out.with_suffix(".pt")
    for path in (out, latent_file):
        check_output(path, [args.image, source_path(args.model)], args.overwrite)
    target, inverted = on_dark_background(read_image(args.image))
    generator, classifier = load_any(args.model), load_classifier()
    shape = image_shape_of(generator)
    if shape != IMAGE_SHAPE:  # closeness is measured partly by the Fashion-MNIST classifier
        drawn = "x".join(map(str, shape[1:])) + (" colour" if shape[0] == 3 else " grey")
        raise ValueError(
            f"--model {args.model} draws {drawn} images; invert works with generators of 28x28 grey "
            "images (Fashion-MNIST's), whose closeness its classifier can judge"
        )
    for network in (generator, classifier):
        network.requires_grad_(False)
    found = invert(generator, target, classifier.features, args.starts, args.steps, seed=args.seed)
    label, error = (None if found.labels is None else int(found.labels[0])), found.error.item()
    save_grid(found.images, out, nrow=1)
    atomic_save({"z": found.z, "label": label, "error": error, "model": args.model}, latent_file)
    drawn_as = "" if label is None else f", drawn as {generator.class_names[label]}"
    note = "colours inverted (a light background); " if inverted else ""
    return f"{note}wrote {out} and {latent_file}; pixel error {error:.3f}{drawn_as}"


def weights_output(output: str, overwrite: bool) -> Path:
    """``--output`` of a training command, checked before the training: a new file in a folder
    this process may write (an existing one only with ``--overwrite``)."""
    check_output(output, [], overwrite)
    folder = Path(output).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--output {output}: cannot write into {folder}; choose another --output")
    return Path(output)


def run_train_classifier(config: ClassifierConfig, output: str, overwrite: bool = False) -> float:
    """The ``train-classifier`` command: check where it will save, train, report test accuracy, save."""
    weights_output(output, overwrite)
    device = pick_device(config.device)
    train_split, test_split = load_fashion_mnist(train=True), load_fashion_mnist(train=False)
    model, accuracy = train_classifier(config, train_split, test_split, device)
    print(f"saved {save_classifier(model.cpu(), config, accuracy, output)} (test accuracy {accuracy:.2%})")
    return accuracy


def run_train_encoder(
    config: EncoderConfig, output: str | None, overwrite: bool = False, folder: FolderData | None = None
) -> Path:
    """The ``train-encoder`` command: check where it will save, train on the training images
    (Fashion-MNIST's, or a folder's training part), save."""
    default = folder_encoder_path(folder) if folder is not None else SAMPLES_DIR / "encoder.pt"
    output = str(output or default)
    weights_output(output, overwrite)
    images = folder.part(held=False) if folder is not None else load_fashion_mnist(train=True)
    model = train_encoder(config, images, pick_device(config.device))
    saved = atomic_save(encoder_state(model.cpu(), config), output)
    print(f"saved {saved}")
    return saved


def run_encoder_command(args: argparse.Namespace) -> Path:
    """``train-encoder``: every setting checked, then (``--data-dir``) the folder read, then training."""
    config = EncoderConfig(args.method, 10 if args.epochs is None else args.epochs, seed=args.seed,
                           device=args.device)  # fmt: skip
    if not args.data_dir:
        for flag in ("image_size", "channels", "data_root"):
            if getattr(args, flag) is not None:
                option = "--" + flag.replace("_", "-")
                raise ValueError(f"{option} goes with --data-dir; leave it out for Fashion-MNIST")
        return run_train_encoder(config, args.output, args.overwrite)
    if args.method != "contrastive":
        raise ValueError("--method autoencoder: its decoder draws 28x28 grey images only; use --method "
                         "contrastive with --data-dir")  # fmt: skip
    if args.output:
        weights_output(args.output, args.overwrite)  # before the folder is read
    root = args.data_root or DATA_DIR
    folder = load_image_folder(args.data_dir, args.image_size or 0, args.channels or 0, root)
    fitted = folder_config(len(folder.part(held=False)), args.seed, args.device)
    fitted = dataclasses.replace(fitted, num_epochs=fitted.num_epochs if args.epochs is None else args.epochs)
    return run_train_encoder(fitted, args.output, args.overwrite, folder)


def run_evaluate(args: argparse.Namespace) -> str:
    """The ``evaluate`` command: against Fashion-MNIST, or (``--data-dir``) a folder of one's own."""
    if not args.data_dir:
        if args.encoder is not None:
            raise ValueError("--encoder goes with --data-dir; leave it out to measure on Fashion-MNIST")
        samples = 10_000 if args.samples is None else args.samples
        return evaluate_paths(args.paths, samples, args.seed, args.inception)
    for flag, value in (("--samples", args.samples), ("--inception", args.inception or None)):
        if value is not None:
            raise ValueError(f"{flag}: with --data-dir every row has as many images as the folder holds out; "
                             f"leave {flag} out")  # fmt: skip
    check_seed(args.seed)
    generators = load_generators(args.paths)
    shapes = {shape_text(image_shape_of(generator)) for generator in generators.values()}
    if len(shapes) > 1:
        made = " and ".join(sorted(shapes))
        raise ValueError(f"the generators make images of {made}: evaluate one shape at a time")
    channels, side, _ = image_shape_of(next(iter(generators.values())))
    encoder = load_encoder(args.encoder) if args.encoder else None
    if encoder is not None and shape_text(encoder.image_shape) not in shapes:
        reads = shape_text(encoder.image_shape)
        raise ValueError(f"--encoder {args.encoder} reads {reads} images, the generators {shapes.pop()}; "
                         "give one trained on images of that shape")  # fmt: skip
    root = args.data_root or DATA_DIR
    folder = load_image_folder(args.data_dir, side, channels, root)  # read as the generators draw
    check_held_out(folder)  # before an encoder is trained for it
    return folder_report(generators, folder, encoder or encoder_for_folder(folder), args.seed)


def run_command(args: argparse.Namespace) -> int:
    """Run the parsed command; what it prints goes to stdout."""
    if args.command == "evaluate":
        print(run_evaluate(args))
    elif args.command == "train-classifier":
        config = ClassifierConfig(args.epochs, args.batch_size, args.lr, args.seed, args.device)
        run_train_classifier(config, args.output, args.overwrite)
    elif args.command == "train-encoder":
        run_encoder_command(args)
    elif args.command == "sample":
        print(run_sample(args))
    elif args.command == "invert":
        print(run_invert(args))
    elif args.command == "export":
        print(f"wrote {export_generator(args.checkpoint, args.output, args.overwrite, args.best)}")
    else:
        return run_train(args)
    return 0


def main(argv: list[str] | None = None) -> int:
    matplotlib.use("Agg")
    args = build_parser().parse_args(argv)
    try:
        return run_command(args)
    except DiskFullError as error:  # not bad input: the same command works once there is room
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (ValueError, OSError) as error:  # bad input, a missing or unwritable file: one line
        print(f"error: {worded(error, getattr(args, 'flags', {}))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
