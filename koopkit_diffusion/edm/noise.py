"""The one rule for drawing the noises (and classes) a model is sampled from, in batches.

Every sampler of the package — a one-step student's ``sample_batches``, the teacher's sampler,
evaluation on the same noises, FID during training — draws its ``ε`` and its class labels here,
so that "``n`` samples from seed ``s``" means the same noises everywhere, whatever the batch size:

* ``ε`` is one draw ``torch.randn(n, *shape, generator=torch.Generator().manual_seed(seed))`` on
  the CPU, handed out in consecutive batches (each a multiple of 16 numbers, which is how torch's
  CPU generator fills a tensor, so the batches concatenate to that one draw);
* classes, for a conditional model, are uniform, from a stream of their own
  (``numpy.random.SeedSequence([seed, 1])``, never correlated with ``ε``), as in EDM's
  ``generate.py`` and the KDM authors' evaluation; or one class for every sample; or given.

Pair sets draw per pair instead (:func:`koopkit_diffusion.pairs.pair_noise`): their pairs must be
a function of ``(seed, index)`` alone, so that generation can be split over shards and ranks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import numpy as np
import torch

__all__ = ["class_labels", "concat_batches", "noise_batches"]

#: torch's CPU normal generator fills tensors in blocks of this many numbers.
_BLOCK = 16


def class_labels(
    n: int, label_dim: int, labels: torch.Tensor | int | None = None, seed: int = 0
) -> torch.Tensor | None:
    """The ``n`` classes of a draw: ``None`` for an unconditional model, else int64 ``(n,)``.

    Parameters
    ----------
    n : int
        Number of samples.
    label_dim : int
        Number of classes (0: unconditional).
    labels : Tensor of shape (n,), int or None
        Given classes, one class for all, or ``None`` for uniform classes drawn from
        ``SeedSequence([seed, 1])``.
    seed : int, default 0

    Returns
    -------
    Tensor of shape (n,) or None

    Raises
    ------
    ValueError
        Classes for an unconditional model, a shape other than ``(n,)``, a class outside
        ``[0, label_dim)``.
    """
    if not label_dim:
        if labels is not None:
            raise ValueError("labels were given for an unconditional model (label_dim=0)")
        return None
    if labels is None:
        state = np.random.SeedSequence([int(seed), 1]).generate_state(1, np.uint64)[0]
        gen = torch.Generator().manual_seed(int(state))
        return torch.randint(label_dim, (n,), generator=gen)
    if isinstance(labels, (int, np.integer)) and not isinstance(labels, bool):
        labels = torch.full((n,), int(labels), dtype=torch.long)
    labels = torch.as_tensor(labels)
    if labels.shape != (n,) or labels.is_floating_point():
        raise ValueError(
            f"labels must be one class (an int) or integer classes of shape ({n},), got "
            f"{labels.dtype} {tuple(labels.shape)}"
        )
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= label_dim):
        raise ValueError(
            f"class labels must lie in [0, {label_dim}), got [{int(labels.min())}, "
            f"{int(labels.max())}]"
        )
    return labels.long().cpu()


def noise_batches(
    n: int | None,
    shape: tuple[int, ...],
    *,
    seed: int = 0,
    batch_size: int = 10_000,
    label_dim: int = 0,
    labels: torch.Tensor | int | None = None,
    noise: torch.Tensor | None = None,
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Seeded noises ``ε ~ N(0, I)`` and their classes, in batches, on the CPU.

    The batches are consecutive pieces of one draw of all ``n`` noises (see the module
    docstring), so sample ``i`` gets the same ``ε`` whatever ``batch_size``; for that the batch
    size is rounded down to a multiple of ``16 / gcd(16, prod(shape))`` samples, and a tail of
    fewer than 16 numbers joins the batch before it.

    Parameters
    ----------
    n : int or None
        Number of samples, ``>= 1`` (``None`` with ``noise``).
    shape : tuple of int
        Shape of one sample.
    seed : int, default 0
        Seed of the noises and of the drawn classes.
    batch_size : int, default 10000
    label_dim : int, default 0
    labels : Tensor of shape (n,), int or None
        See :func:`class_labels`.
    noise : Tensor of shape (n, *shape), optional
        Noises to hand out instead of drawing them (e.g. a teacher's pairs); classes are still
        drawn (or given) as above.

    Yields
    ------
    noise : Tensor of shape (batch, *shape) (float32 when drawn)
    labels : Tensor of shape (batch,), int64, or None
    """
    shape = tuple(int(s) for s in shape)
    if noise is not None:
        noise = torch.as_tensor(noise)
        if tuple(noise.shape[1:]) != shape or not len(noise) or n not in (None, len(noise)):
            raise ValueError(
                f"noise must have shape ({n if n is not None else 'n'}, "
                f"{', '.join(map(str, shape))}) with n >= 1, got {tuple(noise.shape)}"
            )
        n = len(noise)
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    classes = class_labels(int(n), label_dim, labels, seed)
    numel, n = math.prod(shape), int(n)
    step = _BLOCK // math.gcd(_BLOCK, numel)
    rows = max(step, int(batch_size) // step * step)
    gen = torch.Generator().manual_seed(int(seed))
    start = 0
    while start < n:
        m = min(rows, n - start)
        if 0 < (n - start - m) * numel < _BLOCK:  # a tail under one block is drawn another way
            m = n - start
        eps = torch.randn((m, *shape), generator=gen) if noise is None else noise[start : start + m]
        yield eps, (None if classes is None else classes[start : start + m])
        start += m


def concat_batches(
    batches: Iterable[tuple[torch.Tensor, torch.Tensor | None]],
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The ``(samples, labels)`` batches of a ``sample_batches`` call, concatenated.

    Returns
    -------
    samples : Tensor of shape (n, *shape)
    labels : Tensor of shape (n,) or None
    """
    samples, labels = [], []
    for x, y in batches:
        samples.append(x)
        if y is not None:
            labels.append(y)
    return torch.cat(samples), (torch.cat(labels) if labels else None)
