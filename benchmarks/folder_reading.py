"""How fast a folder of one's own images is read: ``load_image_folder`` the first time (decoding
every file) and cached, beside a plain PIL loop over the same files and an epoch of torchvision's
``ImageFolder`` with a ``DataLoader``, all to the same 64x64 RGB tensors.

    python benchmarks/folder_reading.py                 # 10,000 JPEGs of 64x64, in a temporary folder
    python benchmarks/folder_reading.py --count 2000 --side 256

The pictures are drawn with numpy (smooth colour gradients with noise, so JPEG has work to do)
and written once; each reader then runs on the same files.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gan_helpers.image_folder import load_image_folder


def write_pictures(folder: Path, count: int, side: int, seed: int = 0) -> None:
    """``count`` JPEGs of ``side`` pixels in two class folders."""
    random = np.random.default_rng(seed)
    ramp = np.linspace(0, 1, side, dtype=np.float32)
    for number in range(count):
        colour = random.random(3, dtype=np.float32)
        picture = (ramp[:, None, None] * colour + ramp[None, :, None] * (1 - colour)) * 200
        picture += random.normal(0, 12, (side, side, 3)).astype(np.float32)
        path = folder / ("a" if number % 2 else "b") / f"{number:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture.clip(0, 255).astype(np.uint8)).save(path, quality=90)


def plain_pil(folder: Path, size: int) -> torch.Tensor:
    """The loop anyone writes first: open, convert, resize, stack."""
    pictures = [np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.Resampling.BICUBIC))
                for path in sorted(folder.rglob("*.jpg"))]  # fmt: skip
    return torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2)


def torchvision_epoch(folder: Path, size: int, workers: int) -> int:
    """One pass of ``ImageFolder`` + ``DataLoader`` (batch 256) to uint8-range tensors."""
    from torchvision import datasets, transforms

    steps = [transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()]
    transform = transforms.Compose(steps)
    loader = torch.utils.data.DataLoader(datasets.ImageFolder(str(folder), transform), batch_size=256,
                                         num_workers=workers)  # fmt: skip
    return sum(len(images) for images, _ in loader)


def timed(what, *args) -> float:
    start = time.perf_counter()
    what(*args)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=64, help="pixels a side of the written JPEGs")
    parser.add_argument("--size", type=int, default=64, choices=(28, 32, 64), help="what they are read as")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers (default 2)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder, cache = Path(scratch) / "pictures", Path(scratch) / "data"
        write_pictures(folder, args.count, args.side)
        print(f"{args.count} JPEGs of {args.side}x{args.side}, read as {args.size}x{args.size} RGB; "
              f"torch threads {torch.get_num_threads()}", flush=True)  # fmt: skip
        rows = {
            "plain PIL loop": timed(plain_pil, folder, args.size),
            f"torchvision ImageFolder + DataLoader ({args.workers} workers), one epoch":
                timed(torchvision_epoch, folder, args.size, args.workers),
            "load_image_folder, first time (decodes, writes the cache)": timed(load_image_folder, folder,
                                                                                args.size, 3, cache),
            "load_image_folder, cached": timed(load_image_folder, folder, args.size, 3, cache),
        }  # fmt: skip
    for name, seconds in rows.items():
        print(f"{seconds:8.2f} s  {name}")


if __name__ == "__main__":
    main()
