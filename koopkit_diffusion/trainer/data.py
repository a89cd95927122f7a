"""Data order and loading: a deterministic, shardable, resumable stream of batches.

The order of the data is a pure function of ``(seed, epoch)``: epoch ``e`` visits the dataset in
the permutation drawn by a generator seeded with ``(seed, e)``, cut into consecutive global
batches (the incomplete last batch is dropped). Under DDP, process ``r`` of ``W`` takes the
``r``-th slice of every global batch, so the samples consumed by step ``s`` are the same for any
number of processes, and resuming at step ``s`` only needs ``s``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, default_collate

__all__ = [
    "TensorDictDataset",
    "ShardedBatchSampler",
    "epoch_permutation",
    "make_loader",
    "batch_to_device",
]


class TensorDictDataset(Dataset):
    """An in-memory dataset of equally long tensors, with a batched fast path.

    ``dataset[i]`` is ``{key: tensor[i]}``; ``dataset.get_batch(indices)`` is
    ``{key: tensor[indices]}`` in one indexing operation, which is what the trainer calls.
    Use it for pair sets that fit in memory (2-D data, digits).

    Parameters
    ----------
    **tensors : Tensor or ndarray
        Arrays with the same first dimension ``n``, e.g. ``noise`` of shape ``(n, 2)``,
        ``sample`` of shape ``(n, 2)``, ``label`` of shape ``(n,)``.
    """

    def __init__(self, **tensors: torch.Tensor | np.ndarray) -> None:
        if not tensors:
            raise ValueError("TensorDictDataset needs at least one named tensor, e.g. sample=...")
        self.tensors = {k: torch.as_tensor(v) for k, v in tensors.items()}
        lengths = {k: v.shape[0] if v.ndim else None for k, v in self.tensors.items()}
        if len(set(lengths.values())) != 1 or None in lengths.values():
            raise ValueError(f"all tensors must share their first dimension, got {lengths}")
        self._n = next(iter(lengths.values()))

    @classmethod
    def from_dataset(cls, dataset: Any) -> TensorDictDataset:
        """Load a whole map-style dataset of dicts into memory (use ``get_batch`` if offered)."""
        n = len(dataset)
        if n == 0:
            raise ValueError("cannot load an empty dataset into memory")
        if hasattr(dataset, "get_batch"):
            batch = dataset.get_batch(np.arange(n))
        else:
            batch = default_collate([dataset[i] for i in range(n)])
        return cls(**batch)

    def __len__(self) -> int:
        return self._n

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {k: v[index] for k, v in self.tensors.items()}

    def get_batch(self, indices: Sequence[int] | np.ndarray) -> dict[str, torch.Tensor]:
        """``{key: tensor[indices]}`` for an index array of shape ``(b,)``."""
        idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return {k: v[idx] for k, v in self.tensors.items()}


def epoch_permutation(n: int, seed: int, epoch: int) -> np.ndarray:
    """Visiting order of epoch ``epoch``: a permutation of ``range(n)`` fixed by (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


class ShardedBatchSampler:
    """Endless index batches for one process, starting at a given global step.

    Parameters
    ----------
    n : int
        Dataset length.
    batch_size : int
        Global batch size; must not exceed ``n``.
    seed : int
        Seed of the order (see the module docstring).
    rank, world_size : int
        This process and the number of processes; ``batch_size % world_size == 0``.
    start_step : int
        First global step to produce (``0`` for a fresh run, the checkpoint's step on resume).

    Yields
    ------
    ndarray of shape (batch_size // world_size,)
        Sorted indices (sorted for locality in memory-mapped files; a batch is a set).
    """

    def __init__(
        self, n: int, batch_size: int, seed: int, rank: int, world_size: int, start_step: int
    ) -> None:
        if batch_size > n:
            raise ValueError(f"batch_size {batch_size} is larger than the dataset ({n} items)")
        if batch_size % world_size:
            raise ValueError(
                f"batch_size {batch_size} must be divisible by the number of processes "
                f"({world_size})"
            )
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size, self.start_step = rank, world_size, start_step
        self.batches_per_epoch = n // batch_size

    def position(self, step: int) -> tuple[int, int]:
        """``(epoch, batch index within the epoch)`` of global step ``step``."""
        return divmod(step, self.batches_per_epoch)

    def __iter__(self) -> Iterator[np.ndarray]:
        local = self.batch_size // self.world_size
        epoch, first = self.position(self.start_step)
        while True:
            perm = epoch_permutation(self.n, self.seed, epoch)
            for b in range(first, self.batches_per_epoch):
                start = b * self.batch_size + self.rank * local
                yield np.sort(perm[start : start + local])
            epoch, first = epoch + 1, 0


class _BatchedView(Dataset):
    """Maps an index array to a collated batch (``dataset.get_batch`` or item-wise collate)."""

    def __init__(self, dataset: Any) -> None:
        self.dataset = dataset
        self.batched = callable(getattr(dataset, "get_batch", None))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, indices: np.ndarray) -> Any:
        if self.batched:
            return self.dataset.get_batch(indices)
        return default_collate([self.dataset[int(i)] for i in indices])


def make_loader(
    dataset: Any,
    sampler: ShardedBatchSampler,
    num_workers: int,
    pin_memory: bool,
    seed: int,
) -> DataLoader:
    """A DataLoader over ``sampler``'s index batches (auto-collation off; one item = one batch).

    The loader gets its own generator so that creating its iterator draws nothing from the
    global torch RNG (which the training step uses and checkpoints save).
    """
    return DataLoader(
        _BatchedView(dataset),
        sampler=sampler,
        batch_size=None,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        prefetch_factor=4 if num_workers else None,
        generator=torch.Generator().manual_seed(seed),
    )


def batch_to_device(
    batch: Mapping[str, Any], device: torch.device, channels_last: bool
) -> dict[str, Any]:
    """Move a batch dict to ``device``: floating tensors as float32, integers as int64.

    Half-precision storage (float16 pair sets) is converted after the transfer, which halves
    the bytes copied. 4-D tensors get the channels-last layout when asked.
    """
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, np.ndarray):
            value = torch.from_numpy(value)
        if not isinstance(value, torch.Tensor):
            out[key] = value
            continue
        value = value.to(device, non_blocking=True)
        if value.is_floating_point():
            value = value.float()
        elif value.dtype != torch.bool:
            value = value.long()
        if channels_last and value.ndim == 4:
            value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out
