"""Sampling a teacher with EDM's deterministic Heun sampler from seeded noise."""

from __future__ import annotations

import torch

from koopkit_diffusion.edm import heun_sample

from .model import Teacher

__all__ = ["sample_teacher"]


def sample_teacher(
    teacher: Teacher,
    n: int,
    n_steps: int = 18,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    batch_size: int = 10_000,
    dtype: torch.dtype | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` samples with EDM's Heun sampler (:func:`~koopkit_diffusion.edm.heun_sample`).

    The noise ``ε`` is drawn on the CPU from ``torch.Generator().manual_seed(seed)`` (so the samples
    do not depend on ``batch_size`` or the device).

    Parameters
    ----------
    teacher : Teacher
    n : int
    n_steps : int, default 18
        Heun steps (``2·n_steps − 1`` evaluations).
    seed : int, default 0
    labels : torch.Tensor of shape (n,), optional
        Classes for a conditional teacher; default ``arange(n) % label_dim`` (balanced).
    batch_size : int, default 10000
    dtype : torch.dtype, optional
        ODE state dtype; default float64 for 2-D data, float32 for images.
    progress : bool, default False

    Returns
    -------
    samples : torch.Tensor of shape (n, ...), on the CPU
        ``...`` is ``teacher.shape``.
    labels : torch.Tensor of shape (n,) or None
    """
    from tqdm.auto import tqdm

    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    if teacher.label_dim and labels is None:
        labels = torch.arange(n) % teacher.label_dim
    if labels is not None and labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if dtype is None:
        dtype = torch.float64 if len(teacher.shape) == 1 else torch.float32
    device = next(teacher.parameters()).device
    noise = torch.randn(n, *teacher.shape, generator=torch.Generator().manual_seed(seed))
    out = []
    for start in tqdm(range(0, n, batch_size), disable=not progress, desc="sample"):
        stop = min(n, start + batch_size)
        batch_labels = None if labels is None else labels[start:stop].to(device)
        res = heun_sample(
            teacher,
            noise[start:stop].to(device),
            n_steps,
            batch_labels,
            teacher.sigma_min,
            teacher.sigma_max,
            dtype=dtype,
        )
        out.append(res.samples.cpu())
    return torch.cat(out), labels
