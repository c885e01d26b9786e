"""The device-resident batch iterator: coverage, determinism, drop_last, resume."""

from __future__ import annotations

import pytest
import torch

from gan_helpers.data import CLASS_NAMES, BatchIterator, ImageData


def make_data(count: int = 50) -> ImageData:
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 28, 28)
    return ImageData(images.clone(), torch.arange(count) % 10, CLASS_NAMES, True)


def seen_ids(batches) -> list[int]:
    """Recover each image's id from its (scaled) pixel value."""
    return [round((x.item() + 1) * 127.5) for real, _ in batches for x in real[:, 0, 0, 0]]


def test_every_image_exactly_once_per_epoch():
    iterator = BatchIterator(make_data(50), batch_size=16, seed=3)
    assert len(iterator) == 4
    for _ in range(3):
        ids = seen_ids(iterator)
        assert sorted(ids) == list(range(50))


def test_labels_travel_with_images():
    for real, labels in BatchIterator(make_data(50), batch_size=16):
        ids = torch.round((real[:, 0, 0, 0] + 1) * 127.5).long()
        assert torch.equal(ids % 10, labels)


def test_shuffled_differently_each_epoch_but_seeded():
    first, second = BatchIterator(make_data(), 10, seed=1), BatchIterator(make_data(), 10, seed=1)
    epoch_a, epoch_b = seen_ids(first), seen_ids(first)
    assert epoch_a != epoch_b and epoch_a != list(range(50))
    assert seen_ids(second) == epoch_a
    assert seen_ids(BatchIterator(make_data(), 10, seed=2)) != epoch_a


def test_drop_last_and_batch_shapes():
    iterator = BatchIterator(make_data(50), batch_size=16, drop_last=True)
    sizes = [len(real) for real, _ in iterator]
    assert sizes == [16, 16, 16] and len(iterator) == 3
    assert [len(real) for real, _ in BatchIterator(make_data(50), 16)] == [16, 16, 16, 2]


def test_values_scaled_to_minus_one_one():
    real, _ = next(iter(BatchIterator(make_data(50), 50)))
    assert real.dtype == torch.float32 and real.shape == (50, 1, 28, 28)
    assert real.min() == -1.0 and real.max() <= 1.0


def test_resume_mid_epoch_gives_the_remaining_batches():
    iterator = BatchIterator(make_data(), 10, seed=5)
    whole = seen_ids(iterator.batches(epoch=2))
    assert seen_ids(iterator.batches(epoch=2, start=3)) == whole[30:]


def test_no_shuffle_keeps_order_and_bad_batch_size():
    assert seen_ids(BatchIterator(make_data(), 10, shuffle=False)) == list(range(50))
    with pytest.raises(ValueError, match=r"batch_size = 0: must be an integer from 1 to 50"):
        BatchIterator(make_data(), 0)


def test_the_cpu_gather_returns_exactly_what_indexing_does():
    data = ImageData(
        torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8), torch.arange(50) % 10, CLASS_NAMES, True
    )
    batches = BatchIterator(data, batch_size=8, seed=3)
    index = batches.order(0)[:8]
    gathered = batches.gather(index)
    assert gathered.dtype == torch.float32 and torch.equal(gathered, batches.images[index])
