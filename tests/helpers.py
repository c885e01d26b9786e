"""Helpers shared by the tests: tiny datasets written as real IDX files, and tiny configs."""

from __future__ import annotations

import dataclasses
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_helpers.config import TrainConfig
from gan_helpers.data import FASHION, DatasetSpec, ImageData, load_dataset
from gan_helpers.runs import new_run
from gan_helpers.speed import fast_layers
from gan_helpers.training import make_step

STEPS = 3


def tiny_spec(spec: DatasetSpec = FASHION, per_class: int = 3) -> DatasetSpec:
    """``spec`` with both splits ``per_class`` images per class: what the tiny files hold."""
    size = per_class * len(spec.class_names)
    return dataclasses.replace(spec, split_sizes={True: size, False: size})


def write_idx(path: str | Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file, as the datasets ship them (gzipped if ``path`` ends in ``.gz``)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data, path = header + array.tobytes(), Path(path)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def write_fake_dataset(
    folder: Path, per_class: int = 3, gz: bool = True, spec: DatasetSpec = FASHION
) -> Path:
    """Write the four IDX files of a tiny balanced dataset shaped like ``spec``; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    classes = len(spec.class_names)
    for train in (True, False):
        count = per_class * classes
        labels = np.repeat(np.arange(classes, dtype=np.uint8), per_class)
        images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
        images[:, 0, 0] = labels  # lets a test tell images apart by their label
        labels = labels + spec.first_label
        image_stem, label_stem = spec.file_stems[train]
        suffix = ".gz" if gz else ""
        write_idx(folder / (image_stem + suffix), images)
        write_idx(folder / (label_stem + suffix), labels)
    return folder


def tiny_data(root: Path | str, train: bool = True) -> ImageData:
    """The tiny Fashion-MNIST under ``root`` (30 images a split), written on first use."""
    root = Path(root)
    raw = root / FASHION.folder / "raw"
    if not raw.is_dir():
        write_fake_dataset(raw)
    return load_dataset(tiny_spec(), root, train, system_dir=None, download=False)


def tiny_config(root: Path, model: str = "dcgan", **overrides) -> TrainConfig:
    """A config for a run of two epochs of 3 batches on the tiny data (batch 8, seed 1)."""
    values = dict(
        num_epochs=2, batch_size=8, device="cpu", log_every=1, seed=1,
        data_root=str(root), output_dir=str(root.parent / "runs"),
    )  # fmt: skip
    return TrainConfig.for_model(model, **{**values, **overrides})


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    """Whether two models hold exactly the same tensors."""
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(x, y) for x, y in pairs)


def dropout_rates(model: torch.nn.Module) -> list[float]:
    """The drop probability of each dropout layer of ``model``, in order."""
    return [layer.p for layer in model.modules() if isinstance(layer, torch.nn.Dropout)]


def losses_and_weights(model: str, device: str = "cpu", steps: int = STEPS, **options) -> tuple[list, dict]:
    """Train ``steps`` batches of fixed data with the given config options, as ``train`` does."""
    # The DCGAN's defaults turn dropout off: keep its fast path tested, and the rate the bound below assumes
    options = {"dropout": 0.3, "lr_g": 2e-4, "lr_d": 2e-4, **options}
    run = new_run(TrainConfig.for_model(model, device=device, seed=3, batch_size=16, n_critic=2, **options))
    data = torch.Generator().manual_seed(0)
    history = []
    with fast_layers(run):
        step = make_step(run)
        for _ in range(steps):
            real = (torch.rand(16, 1, 28, 28, generator=data) * 2 - 1).to(device)
            labels = torch.randint(0, 10, (16,), generator=data).to(device)
            history.append({k: v.item() for k, v in step(real, labels).items()})
            run.step += 1
    return history, {name: value.cpu() for name, value in run.generator.state_dict().items()}


def assert_close_runs(a, b, rtol: float, atol: float, steps: int = STEPS) -> None:
    """Losses within tolerance; weights too, allowing for Adam's normalised steps.

    Adam moves a weight by up to about lr per step whatever its gradient's size, so where a
    gradient is ~0 a rounding difference can flip the step: single weights may then differ by
    up to 2 lr per step, while on average they must agree to the tolerance.
    """
    for plain, fast in zip(a[0], b[0], strict=True):
        assert plain.keys() == fast.keys()
        for key in plain:
            assert fast[key] == pytest.approx(plain[key], rel=rtol, abs=atol), key
    for name, value in a[1].items():
        difference = (b[1][name].double() - value.double()).abs()
        assert difference.max() <= 2 * 2e-4 * steps + atol, name
        assert difference.mean() <= atol, name
