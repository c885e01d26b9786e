"""Images as files: a grid of samples as one picture (PNG, JPEG, ...), written atomically, a
run's epoch grids as a GIF, and any image file read in as a Fashion-MNIST image. No plotting
library: the engine and the command line use these."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image, ImageChops, ImageDraw, ImageOps, UnidentifiedImageError
from torchvision.transforms.functional import to_pil_image
from torchvision.utils import make_grid, save_image

from gan_helpers.data import scale
from gan_helpers.files import atomic_write


def to_grid(images: torch.Tensor, nrow: int = 10) -> torch.Tensor:
    """Tile images in [-1, 1] (or uint8) into one [3, H, W] float picture in [0, 1]."""
    if images.dtype == torch.uint8:
        images = images.float() / 255.0
    else:
        images = images.detach().float().cpu().add(1.0).div(2.0)
    return make_grid(images.clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)


def image_formats() -> dict[str, str]:
    """File suffixes (lower case) of the common image formats this PIL can write, and their format."""
    Image.init()
    common = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP", ".gif": "GIF",
              ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP"}  # fmt: skip
    return {suffix: name for suffix, name in common.items() if name in Image.SAVE}


def save_grid(images: torch.Tensor, path: str | Path, nrow: int = 10, caption: str | None = None) -> Path:
    """Save images in [-1, 1] as one grid, in the format of the suffix (PNG if it names none),
    under a white strip with ``caption`` (say, the epoch the weights are from) if given."""
    grid = to_grid(images, nrow)
    image_format = image_formats().get(Path(path).suffix.lower(), "PNG")
    if caption is None:  # atomic: never half a file
        return atomic_write(path, lambda file: save_image(grid, file, format=image_format))
    picture = with_caption(grey_if_grey(to_pil_image(grid)), caption)
    return atomic_write(path, lambda file: picture.save(file, format=image_format))


def make_gif(frames: Sequence[str | Path], path: str | Path, seconds_per_frame: float = 0.4) -> Path:
    """Write the PNG ``frames`` (e.g. a run's epoch grids) as a looping GIF animation.

    A frame named like ``epoch_003.png`` gets "epoch 3" written above it.
    """
    if not frames:
        raise ValueError("make_gif needs at least one frame; did the run save any epoch grids?")
    images = [labelled(grey_if_grey(Image.open(frame)), Path(frame).stem) for frame in frames]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    duration = int(seconds_per_frame * 1000)
    images[0].save(path, save_all=True, append_images=images[1:], duration=duration, loop=0)
    return path


def labelled(image: Image.Image, stem: str) -> Image.Image:
    """``image`` under a white strip saying "epoch N" when ``stem`` is "epoch_N"."""
    match = re.fullmatch(r"epoch_0*(\d+)", stem)
    return image if match is None else with_caption(image, f"epoch {match.group(1)}")


def with_caption(image: Image.Image, caption: str) -> Image.Image:
    """``image`` (grey or colour) under a white strip with ``caption`` written on it."""
    framed = Image.new(image.mode, (image.width, image.height + 16), color="white")
    framed.paste(image, (0, 16))
    ImageDraw.Draw(framed).text((4, 2), caption, fill="black")
    return framed


def grey_if_grey(picture: Image.Image) -> Image.Image:
    """A picture as one grey channel when its colour channels are all the same, else as RGB:
    grids of Fashion-MNIST stay grey files, and a colour run's keep their colour."""
    red, green, blue = picture.convert("RGB").split()
    same = all(ImageChops.difference(a, b).getbbox() is None for a, b in ((red, green), (green, blue)))
    return picture.convert("L" if same else "RGB")


def read_image(source: bytes | str | Path, name: str | None = None) -> torch.Tensor:
    """An image file (a path, or the file's bytes) as one [1, 1, 28, 28] image in [-1, 1]:
    gray, padded to a square with its own border colour, shrunk to 28x28, scaled as chapter 01 does."""
    name = name or (str(source) if isinstance(source, (str, Path)) else "the file")
    if isinstance(source, (str, Path)):
        if Path(source).is_dir():
            raise ValueError(f"{source} is a folder; give one image file in it (PNG, JPEG, ...)")
        if not Path(source).is_file():
            raise ValueError(f"no image file at {source}")
        source = Path(source).read_bytes()
    if not source:
        raise ValueError(f"{name} is empty: choose an image file (PNG, JPEG, ...)")
    try:
        with Image.open(io.BytesIO(source)) as opened:
            gray = ImageOps.exif_transpose(opened).convert("L")
    except UnidentifiedImageError:
        raise ValueError(f"{name} is not an image file: PIL knows no image format in it") from None
    except (OSError, SyntaxError, ValueError) as error:  # a cut-off or damaged file
        raise ValueError(f"{name} cannot be read as an image ({error})") from None
    side = max(gray.size)
    pixels = torch.frombuffer(bytearray(gray.tobytes()), dtype=torch.uint8).view(gray.size[1], gray.size[0])
    square = ImageOps.pad(gray, (side, side), color=int(border_median(pixels)))
    small = square.resize((28, 28), Image.Resampling.LANCZOS)
    pixels = torch.frombuffer(bytearray(small.tobytes()), dtype=torch.uint8).view(1, 1, 28, 28)
    return scale(pixels)


def border_median(pixels: torch.Tensor) -> torch.Tensor:
    """The median of an image's outermost rows and columns (its last two dimensions): the
    background, for most photos."""
    edges = [pixels[..., 0, :], pixels[..., -1, :], pixels[..., :, 0], pixels[..., :, -1]]
    return torch.cat(edges, dim=-1).median()


def on_dark_background(image: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """The image with its colours inverted if its border is light (Fashion-MNIST draws light
    garments on black), and whether it was."""
    light = bool(border_median(image) > 0)
    return (-image if light else image), light
