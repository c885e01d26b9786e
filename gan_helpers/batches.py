"""A batch iterator that keeps the whole split on the device as one tensor.

For 28x28 images a ``DataLoader`` spends most of its time in per-image Python work
(PIL conversion, ToTensor, Normalize, collate). Here the split is scaled once and each
batch is a single index into it: no workers, no copies between host and device per step.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from gan_helpers.data import ImageData, scale


class BatchIterator:
    """Yields ``(images, labels)`` batches, shuffled anew each epoch, each image once per epoch.

    The order of epoch ``e`` depends only on ``(seed, e)``, so a resumed run sees the same
    batches as an uninterrupted one. Images are float32 in [-1, 1] on ``device``.
    """

    def __init__(
        self,
        data: ImageData,
        batch_size: int,
        *,
        device: str | torch.device = "cpu",
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
    ) -> None:
        if not 1 <= batch_size <= len(data):
            raise ValueError(f"batch_size must be between 1 and {len(data)}, got {batch_size}")
        self.device = torch.device(device)
        self.images = scale(data.images).to(self.device)
        self.labels = data.labels.to(self.device)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        return full if self.drop_last or rest == 0 else full + 1

    def order(self, epoch: int) -> torch.Tensor:
        """The permutation of image indices used in ``epoch`` (identity without shuffle)."""
        count = len(self.labels)
        if not self.shuffle:
            return torch.arange(count, device=self.device)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(count, generator=generator).to(self.device)

    def batches(self, epoch: int, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch``, from batch number ``start`` on (to resume mid-epoch)."""
        order = self.order(epoch)
        for first in range(start * self.batch_size, len(self) * self.batch_size, self.batch_size):
            index = order[first : first + self.batch_size]
            yield self.images[index], self.labels[index]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """One epoch; each new ``for`` loop over the iterator is the next epoch."""
        self.epoch += 1
        return self.batches(self.epoch - 1)
