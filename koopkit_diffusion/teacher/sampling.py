"""All of ``n`` samples of a teacher at once (its ``sample_batches`` collected)."""

from __future__ import annotations

from typing import Any

import torch
from tqdm.auto import tqdm

from koopkit_diffusion.edm import concat_batches

__all__ = ["sample_teacher"]


def sample_teacher(
    teacher: Any,
    n: int | None = None,
    n_steps: int = 18,
    seed: int = 0,
    labels: torch.Tensor | int | None = None,
    batch_size: int = 10_000,
    dtype: torch.dtype | None = None,
    progress: bool = False,
    noise: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``n`` samples of a teacher and their classes: ``teacher.sample_batches``, collected.

    Parameters
    ----------
    teacher : Teacher or DenoiserTeacher
        Anything with the teacher protocol (:mod:`koopkit_diffusion.teacher.protocol`).
    n : int, optional
        Number of samples (when ``noise`` is not given).
    n_steps : int, default 18
        Steps of the teacher's sampler (Heun for EDM teachers: ``2·n_steps − 1`` evaluations).
    seed : int, default 0
    labels : Tensor of shape (n,) or int, optional
        Classes of a conditional teacher (default: uniform random from ``seed``).
    batch_size : int, default 10000
    dtype : torch.dtype, optional
        ODE state dtype; default float64 for vectors, float32 for images.
    progress : bool, default False
    noise : Tensor of shape (n, *shape), optional
        The unscaled noises to start from.

    Returns
    -------
    samples : torch.Tensor of shape (n, *shape), on the CPU
    labels : torch.Tensor of shape (n,) or None
    """
    if not callable(getattr(teacher, "sample_batches", None)):
        raise ValueError(
            f"{type(teacher).__name__} is not a teacher (no sample_batches method); wrap a "
            "denoiser function with koopkit_diffusion.teacher.DenoiserTeacher(fn, shape, ...)"
        )
    batches = teacher.sample_batches(
        n, noise=noise, labels=labels, seed=seed, batch_size=batch_size, n_steps=n_steps,
        dtype=dtype,
    )  # fmt: skip
    total = -(-(len(noise) if noise is not None else n) // batch_size)
    return concat_batches(tqdm(batches, disable=not progress, desc="sample", total=total))
