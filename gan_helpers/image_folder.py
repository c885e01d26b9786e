"""Chapter 10: a folder of your own images as training data.

Any folder of PNG, JPEG, BMP or WebP files (whatever PIL reads), searched recursively: each
picture is centre-cropped to a square and resized to ``image_size`` pixels, in colour or grey.
Pictures in subfolders of the folder take the subfolder's name as their class (so ``cgan``
trains on them); a folder with pictures of its own, or with one subfolder, is unlabelled.
The decoded images are cached in the project's ``data/`` folder, never in yours, under a key of
the folder, its files' names, sizes and times and the options: the next run starts at once, a
changed folder is read again. A file that is not a picture, or is cut off, is skipped and
counted, and the list of them is written beside the cache (``data-report.txt``). One picture in
ten, chosen by its name, is held out of training, so ``evaluate --data-dir`` has real images no
generator has seen to compare with.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from gan_helpers.checks import SettingError, one_of
from gan_helpers.data import OWN_FOLDERS, ImageData
from gan_helpers.files import atomic_save, atomic_write
from gan_helpers.speed import map_in_processes

IMAGE_SIZES = (28, 32, 64)  # the sides the networks are built for (models.SIDES)
CHANNELS = (1, 3)
DEFAULT_SIZE = 32  # a folder's images when image_size is left at 0
CACHE_FOLDER, DEMO_FOLDER = OWN_FOLDERS  # under the data root: data/folders/<name>-<key>/, data/demo/
CACHE_FORMAT = 3
HELD_OUT = 10  # one picture in HELD_OUT is kept out of training, for evaluation


def held_out(name: str) -> bool:
    """Whether the picture at ``name`` (its path in the folder) is held out of training: decided
    by a hash of the name alone, so adding or removing other files never moves it across."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % HELD_OUT == 0


@dataclass(frozen=True)
class FolderData:
    """A folder read in: its images as ``ImageData`` (uint8 [N, C, S, S], labels, class names; an
    unlabelled folder has no class names and label 0 everywhere), what was skipped and why, and
    ``record``, what a run keeps to know its data again (path, file count, a hash of the list)."""

    data: ImageData
    names: tuple[str, ...]  # each image's file, relative to the folder
    skipped: dict[str, list[str]]  # reason -> relative paths
    record: dict
    report: Path | None  # the skipped files' list, when there are any
    cached: bool  # read from the cache, not decoded
    place: Path | None = None  # the cache's folder (its encoder is kept there too)

    @property
    def labelled(self) -> bool:
        return bool(self.data.class_names)

    def part(self, held: bool) -> ImageData:
        """The images a generator trains on (``held=False``), or the held-out ones (``held=True``)."""
        mask = torch.tensor([held_out(name) == held for name in self.names], dtype=torch.bool)
        data = self.data
        return ImageData(data.images[mask], data.labels[mask], data.class_names, not held)

    def skipped_line(self) -> str:
        """``skipped 2 of 412 files: 1 not an image, 1 truncated — see …/data-report.txt`` ("" if none)."""
        total = sum(len(paths) for paths in self.skipped.values())
        if not total:
            return ""
        reasons = ", ".join(f"{len(paths)} {reason}" for reason, paths in self.skipped.items() if paths)
        return f"skipped {total} of {self.record['files'] + total} files: {reasons} — see {self.report}"


def listing(folder: Path) -> list[tuple[str, int, int]]:
    """Every file under ``folder`` as (path relative to it, size, modification time in ns), sorted;
    hidden files and folders (``.DS_Store``, ``.ipynb_checkpoints``) are left out."""
    found = []
    for root, folders, files in os.walk(folder):
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        for name in files:
            if not name.startswith("."):
                path = Path(root) / name
                stat = path.stat()
                found.append((path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns))
    return sorted(found)


def check_folder(setting: str, folder: str | Path) -> Path:
    """The folder to read, or one line that says what is wrong with it and what to do."""
    path = Path(folder).expanduser()
    if not path.exists():
        raise SettingError(setting, str(folder), "no such folder; give the folder that holds your images")
    if not path.is_dir():
        raise SettingError(
            setting, str(folder), "is a file, not a folder; give the folder that holds your images"
        )
    return path.resolve()


def classes_of(names: list[str]) -> tuple[str, ...]:
    """The class names of a listing: the first-level subfolders, when every file is in one and
    there are at least two; otherwise none (an unlabelled folder)."""
    tops = [name.split("/", 1)[0] if "/" in name else None for name in names]
    if None in tops or len(set(tops)) < 2:
        return ()
    return tuple(sorted(set(tops)))


def read_picture(path: Path, size: int) -> tuple[np.ndarray | None, str]:
    """One file as uint8 RGB [size, size, 3], with "" or why it was skipped."""
    try:
        with Image.open(path) as picture:
            picture.draft(picture.mode, (size, size))  # JPEG: decode at a reduced scale when it is large
            ImageOps.exif_transpose(picture, in_place=True)  # a phone's picture, the right way up
            if picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info:
                picture = flatten_alpha(picture)
            picture = picture.convert("RGB")
            width, height = picture.size
            side = min(width, height)  # the centre square, then resized
            box = ((width - side) // 2, (height - side) // 2, (width + side) // 2, (height + side) // 2)
            square = picture.resize((size, size), Image.Resampling.BICUBIC, box=box, reducing_gap=2.0)
    except UnidentifiedImageError:
        return None, "not an image"
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        return None, "truncated" if "truncated" in str(error).lower() else "unreadable"
    return np.asarray(square, dtype=np.uint8), ""


def flatten_alpha(picture: Image.Image) -> Image.Image:
    """A picture with transparency laid on white, as a viewer shows it."""
    rgba = picture.convert("RGBA")
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba)


def decode(folder: Path, names: list[str], size: int) -> tuple[torch.Tensor, list[str]]:
    """Every file decoded (a large folder by one process per core): the pictures as uint8 RGB
    [N, 3, size, size], and each file's skip reason ("" if read)."""
    results = map_in_processes(partial(read_picture, size=size), [folder / name for name in names])
    pictures = [pixels for pixels, reason in results if not reason]
    stacked = np.stack(pictures) if pictures else np.zeros((0, size, size, 3), np.uint8)
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).contiguous(), [reason for _, reason in results]


def with_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """RGB uint8 images with ``channels`` (0: 3 if any image has colour, channels that differ,
    else 1). Grey is PIL's own conversion, ``L = (19595 R + 38470 G + 7471 B + 2**15) >> 16``."""
    if not channels:
        colour = bool((images[:, 0] != images[:, 1]).any() or (images[:, 1] != images[:, 2]).any())
        channels = 3 if colour else 1
    if channels == 3:
        return images
    weights = torch.tensor([19595, 38470, 7471]).view(1, 3, 1, 1)
    grey = (images.long() * weights).sum(dim=1, keepdim=True) + 2**15
    return grey.bitwise_right_shift(16).to(torch.uint8)


def cache_key(folder: Path, files: list[tuple[str, int, int]], size: int) -> str:
    """A short hash of everything the decoded tensor depends on."""
    text = json.dumps([str(folder), size, CACHE_FORMAT, files])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def list_hash(files: list[tuple[str, int, int]]) -> str:
    """A hash of the files' names and sizes, and of the rule that holds some out: what a resumed
    run compares (a copied folder matches; a run split another way does not)."""
    listed = [f"one in {HELD_OUT} held out", [(name, size) for name, size, _ in files]]
    return hashlib.sha256(json.dumps(listed).encode()).hexdigest()[:16]


def load_image_folder(
    folder: str | Path, image_size: int = 0, channels: int = 0, cache_root: str | Path | None = None
) -> FolderData:
    """Read a folder of images (cached under ``cache_root``, the data root; None: no cache).

    ``image_size``: 28, 32 or 64 (0: 32). ``channels``: 1 or 3 (0: 3 if any picture has colour).
    The cache holds the pictures in colour, so changing ``channels`` reads no file again.
    """
    path = check_folder("data_dir", folder)
    size = one_of("image_size", image_size or DEFAULT_SIZE, IMAGE_SIZES)
    if channels:
        one_of("channels", channels, CHANNELS)
    files = listing(path)
    if not files:
        raise SettingError("data_dir", str(folder), "holds no files; put your images (PNG, JPEG, ...) in it")
    key = cache_key(path, files, size)
    place = Path(cache_root) / CACHE_FOLDER / f"{path.name}-{key}" if cache_root is not None else None
    if place is not None and (place / "images.pt").is_file():
        return from_cache(place, path, channels)
    names = [name for name, _, _ in files]
    pictures, reasons = decode(path, names, size)
    kept = [name for name, reason in zip(names, reasons, strict=True) if not reason]
    if not kept:
        raise SettingError(
            "data_dir", str(folder),
            f"none of its {len(names)} files is a picture PIL can read; put PNG, JPEG, BMP or WebP "
            "files in it",
        )  # fmt: skip
    classes = classes_of(kept)
    labels = torch.tensor([classes.index(name.split("/", 1)[0]) if classes else 0 for name in kept])
    skipped = {reason: [n for n, r in zip(names, reasons, strict=True) if r == reason]
               for reason in ("not an image", "truncated", "unreadable")}  # fmt: skip
    record = {"path": str(path), "files": len(kept), "list_hash": list_hash(files)}
    data = ImageData(pictures, labels, classes, True)
    result = FolderData(data, tuple(kept), skipped, record, None, False)
    result = to_cache(place, result) if place is not None else result
    return in_channels(result, channels)


def in_channels(folder: FolderData, channels: int) -> FolderData:
    """The folder's RGB images with ``channels`` (``with_channels``)."""
    data = folder.data
    images = ImageData(with_channels(data.images, channels), data.labels, data.class_names, True)
    return replace(folder, data=images)


def to_cache(place: Path, result: FolderData) -> FolderData:
    """Keep the decoded folder (and the list of what was skipped) under ``place``."""
    report = None
    if any(result.skipped.values()):
        lines = [f"{reason}: {name}" for reason, names in result.skipped.items() for name in names]
        report = place / "data-report.txt"
        text = f"Files of {result.record['path']} that were skipped:\n" + "\n".join(lines) + "\n"
        atomic_write(report, lambda file: file.write(text.encode()))
    data = result.data
    state = {
        "format": CACHE_FORMAT, "images": data.images, "labels": data.labels,
        "class_names": list(data.class_names), "names": list(result.names), "skipped": result.skipped,
        "record": result.record,
    }  # fmt: skip
    atomic_save(state, place / "images.pt")
    return replace(result, report=report, place=place)


def from_cache(place: Path, path: Path, channels: int) -> FolderData:
    """The folder as cached by ``to_cache``, with ``channels``."""
    state = torch.load(place / "images.pt", map_location="cpu", weights_only=True)
    data = ImageData(state["images"], state["labels"], tuple(state["class_names"]), True)
    report = place / "data-report.txt"
    record = {**state["record"], "path": str(path)}
    report = report if report.is_file() else None
    folder = FolderData(data, tuple(state["names"]), state["skipped"], record, report, True, place)
    return in_channels(folder, channels)


def read_folder(config) -> FolderData:
    """The folder a ``TrainConfig`` trains on, cached under its data root."""
    return load_image_folder(config.data_dir, config.image_size, config.channels, config.data_root)


def fit_to_folder(config, folder: FolderData):
    """The config with the folder's facts filled in (size, channels, class names), so the networks
    are built for its images and a checkpoint knows them; a conditional kind needs classes."""
    if config.kind.conditional and not folder.labelled:
        raise SettingError(
            "TrainConfig.model", config.model,
            f"needs classes, and {folder.record['path']} has none: put the images in one subfolder per "
            "class (cats/, dogs/, ...), or train an unconditional kind (dcgan, sngan, ...)",
        )  # fmt: skip
    images = folder.data.images
    classes = folder.data.class_names
    return config.replace(image_size=images.shape[-1], channels=images.shape[1], folder_classes=classes)


def describe(folder: FolderData) -> str:
    """What a run trains on, in a line (and the skipped files' line under it)."""
    data = folder.data
    _, channels, side, _ = data.images.shape
    names = ", ".join(data.class_names)
    classes = f"{len(data.class_names)} classes ({names})" if folder.labelled else "no classes"
    cached = ", from the cache" if folder.cached else ""
    colour = "colour" if channels == 3 else "grey"
    where = folder.record["path"]
    held = len(folder.part(held=True))
    line = (
        f"Training on {len(data) - held} images of {where} ({held} more held out for evaluate): "
        f"{side}x{side}, {colour}, {classes}{cached}"
    )
    skipped = folder.skipped_line()
    return line + (f"\n{skipped}" if skipped else "")


def write_demo_folder(
    folder: str | Path, count: int = 600, size: int = 32, seed: int = 0, by_class: bool = False
) -> Path:
    """A colour set that needs no download: Fashion-MNIST training items tinted in one random
    colour, placed at a random spot on a background of another, as ``size``-pixel PNGs in
    ``folder`` (one subfolder per class if ``by_class``). The same arguments give the same files;
    files already there are kept, so a second call writes nothing."""
    from gan_helpers.data import load_fashion_mnist  # only here: the reader needs no dataset

    one_of("size", size, (32, 64))
    fashion = load_fashion_mnist(train=True)
    random = np.random.default_rng(seed)
    chosen = random.choice(len(fashion), size=count, replace=False)
    hues = random.random((count, 2))  # the item's and the background's
    hues[:, 1] = (hues[:, 0] + 0.25 + 0.5 * random.random(count)) % 1.0  # never close to the item's
    offsets = random.integers(0, size - 28 + 1, size=(count, 2))
    folder = Path(folder)
    for number, index in enumerate(chosen):
        label = fashion.class_names[int(fashion.labels[index])].replace("/", "-").replace(" ", "-").lower()
        path = folder / (label if by_class else "") / f"item_{number:05d}.png"
        if path.exists():
            continue
        item = fashion.images[index, 0].numpy().astype(np.float32)[..., None] / 255.0
        colours = [np.array(colour_of(hue)) for hue in hues[number]]
        picture = np.tile(colours[1], (size, size, 1)).astype(np.float32)
        top, left = offsets[number]
        window = picture[top : top + 28, left : left + 28]
        picture[top : top + 28, left : left + 28] = window * (1 - item) + colours[0] * item
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture.round().astype(np.uint8)).save(path)
    return folder


def colour_of(hue: float) -> tuple[int, int, int]:
    """A saturated colour of ``hue`` (0..1), as RGB 0..255."""
    red, green, blue = Image.new("HSV", (1, 1), (int(hue * 255), 200, 230)).convert("RGB").getpixel((0, 0))
    return red, green, blue
