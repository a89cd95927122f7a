"""Generate an offline pair set from a teacher: resumable, deterministic, shardable over ranks."""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .format import PairSetWriter, new_manifest, read_manifest, shard_bounds

logger = logging.getLogger(__name__)

# BLAS kernels switch code paths for small row counts, which changes the last bits of a row's
# result; every call of a vector teacher gets at least this many rows (short batches are
# zero-padded and the padding dropped) so that a pair's bytes do not depend on the batch it was
# computed in. Image teachers are not padded: a padded row costs as much as a real one (8 times
# the work at batch 8), and convolution libraries pick algorithms by batch size anyway.
MIN_TEACHER_ROWS = 64

__all__ = ["MIN_TEACHER_ROWS", "generate_pairs", "pair_noise"]


def pair_noise(
    seed: int, index: int, shape: tuple[int, ...], label_dim: int = 0
) -> tuple[np.ndarray, int | None]:
    """The noise (and label) of pair ``index``: a pure function of ``(seed, index)``.

    ``rng = numpy.random.default_rng([seed, index])``; ``ε = rng.standard_normal(shape)``
    (float64), then ``label = rng.integers(label_dim)`` for a conditional set.

    Returns
    -------
    noise : ndarray of shape ``shape``, float64
    label : int or None
    """
    if seed < 0 or index < 0:
        raise ValueError(f"seed and index must be >= 0, got seed={seed}, index={index}")
    rng = np.random.default_rng([seed, index])
    noise = rng.standard_normal(shape)
    label = int(rng.integers(label_dim)) if label_dim > 0 else None
    return noise, label


def _teacher_record(teacher: Any, description: str | None) -> dict[str, Any]:
    if description is None:
        module = isinstance(teacher, torch.nn.Module)
        description = type(teacher).__qualname__ if module else repr(teacher)
    record: dict[str, Any] = {
        "kind": teacher.kind,
        "description": description,
        "state_sha256": None,
    }
    sigma_data = getattr(teacher, "sigma_data", None)
    if sigma_data is not None:  # students scale their noise input with it (EDM's c_in)
        record["sigma_data"] = float(sigma_data)
    state = teacher.state_dict() if callable(getattr(teacher, "state_dict", None)) else {}
    if state:
        digest = hashlib.sha256()
        for name, value in sorted(state.items()):
            digest.update(name.encode())
            if isinstance(value, torch.Tensor):
                digest.update(value.detach().cpu().contiguous().numpy().tobytes())
        record["state_sha256"] = digest.hexdigest()
    return record


def _rank_world() -> tuple[int, int]:
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def generate_pairs(
    teacher: Any,
    out_dir: str | os.PathLike,
    n: int,
    *,
    batch_size: int = 1024,
    seed: int = 0,
    n_steps: int = 18,
    shard_size: int = 10_000,
    dtype: str = "float32",
    compute_dtype: str | None = None,
    resume: bool = True,
    progress: bool = True,
    teacher_description: str | None = None,
) -> dict[str, Any]:
    """Run the teacher's sampler on ``n`` noises and store the pairs.

    Pair ``i`` is ``(ε_i, teacher.integrate(ε_i))`` with ``ε_i`` from :func:`pair_noise`
    (``numpy.random.default_rng([seed, i])``), rounded to the storage ``dtype`` *before* the
    teacher sees it, so the stored noise is exactly the one the sample came from. The shape of a
    sample, the number of classes and the noise range are the teacher's own
    (:mod:`koopkit_diffusion.teacher.protocol`); for an EDM teacher the sampler is EDM's
    (Karras et al. 2022, Algorithm 1), starting from ``sigma_max · ε``: ``2·n_steps − 1`` teacher
    evaluations per pair.

    Guarantees (see the pair-set guide):

    * **determinism** — the noise bytes depend on ``(seed, i)`` only; the sample bytes too, as long
      as the teacher treats the rows of a batch independently. Batches are laid out from each
      shard's start and every call of a vector teacher has at least :data:`MIN_TEACHER_ROWS`
      rows, which makes the project's MLP teachers on CPU byte-identical whatever
      ``batch_size``; image teachers and GPU kernels may pick other algorithms for other batch
      sizes, so there keep ``batch_size`` to reproduce bytes;
    * **resumability** — a shard is complete once the manifest lists it; rerunning the call
      (after an interruption, even ``SIGKILL``) skips complete shards and recomputes the others
      whole; complete shards are never rewritten;
    * **safety** — a directory holding a different set (seed, teacher, shape, ...) is refused;
    * **ranks** — under ``torchrun`` (``RANK``/``WORLD_SIZE``, or an initialised process group)
      rank ``r`` computes shards ``r, r + W, r + 2W, ...``; the manifest is updated under a file
      lock, so the result equals a single-process run.

    Parameters
    ----------
    teacher : Teacher or DenoiserTeacher
        Anything with the teacher protocol: ``shape``, ``label_dim``, ``sigma_max``, ``kind``,
        ``device`` and ``integrate`` (a denoiser function of your own: wrap it in
        :class:`~koopkit_diffusion.teacher.DenoiserTeacher`). Its ``state_dict``, when it has
        one, is hashed into the manifest and checked on resume.
    out_dir : path
        Directory of the pair set (created if missing).
    n : int
        Number of pairs.
    batch_size : int, default 1024
        Pairs per teacher call.
    seed : int, default 0
        Base seed.
    n_steps : int, default 18
        Steps ``N`` of the teacher's sampler (EDM's Heun: ``2N − 1`` evaluations).
    shard_size : int, default 10000
        Pairs per shard file.
    dtype : {"float32", "float16"}, default "float32"
        Storage dtype of noise and sample.
    compute_dtype : {"float64", "float32"}, optional
        Dtype of the ODE state; default float64 for vector data, float32 for images.
    resume : bool, default True
        Continue a set found in ``out_dir``; ``False`` refuses a set with complete shards.
    progress : bool, default True
        Show a tqdm bar (rank 0 only).
    teacher_description : str, optional
        Free text stored in the manifest (default: the teacher's class or function name).

    Returns
    -------
    dict
        The manifest as left by this process (``complete`` is true once all shards exist).
    """
    missing = [
        name
        for name in ("shape", "label_dim", "sigma_max", "kind", "integrate", "sampler_record")
        if not hasattr(teacher, name)
    ]
    if missing:
        raise ValueError(
            f"teacher lacks {missing} of the teacher protocol; wrap a denoiser function with "
            "koopkit_diffusion.teacher.DenoiserTeacher(fn, shape, label_dim=..., sigma_max=...)"
        )
    shape, label_dim = tuple(int(s) for s in teacher.shape), int(teacher.label_dim)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    if compute_dtype is None:
        compute_dtype = "float64" if len(shape) == 1 else "float32"
    if compute_dtype not in ("float64", "float32"):
        raise ValueError(f"compute_dtype must be 'float64' or 'float32', got {compute_dtype!r}")
    sampler = {
        **teacher.sampler_record(n_steps, compute_dtype),
        "noise": "numpy.random.default_rng([seed, i]).standard_normal(shape)"
        + (", then .integers(label_dim)" if label_dim else ""),
    }
    manifest = new_manifest(
        count=n,
        shard_size=shard_size,
        shape=shape,
        dtype=dtype,
        label_dim=label_dim,
        sigma_max=teacher.sigma_max,
        seed=seed,
        teacher=_teacher_record(teacher, teacher_description),
        sampler=sampler,
        source="generate",
    )
    if getattr(teacher, "training", False):
        warnings.warn(
            "the teacher is in training mode (dropout active, samples not reproducible); "
            "call teacher.eval() first",
            stacklevel=2,
        )
    writer = PairSetWriter(out_dir, manifest, resume=resume)
    rank, world = _rank_world()
    done = writer.completed()
    mine = [s for s in range(rank, writer.n_shards, world) if s not in done]
    state_dtype = getattr(torch, compute_dtype)

    def sample_batch(noise: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
        rows = noise.shape[0]
        pad = max(0, MIN_TEACHER_ROWS - rows) if len(shape) == 1 else 0
        x = torch.from_numpy(np.concatenate([noise, np.zeros((pad, *shape), noise.dtype)]))
        y = None
        if labels is not None:
            y = torch.from_numpy(np.concatenate([labels, np.zeros(pad, np.int64)]))
        with torch.no_grad():
            out = teacher.integrate(x.to(state_dtype), y, n_steps, dtype=state_dtype)
        return out[:rows].cpu().numpy()

    todo = sum(shard_bounds(manifest, s)[1] - shard_bounds(manifest, s)[0] for s in mine)
    bar = tqdm(
        total=todo,
        desc="pairs" if world == 1 else f"pairs (rank {rank}/{world})",
        unit="pair",
        disable=not progress or rank,
    )
    for s in mine:
        start, stop = shard_bounds(manifest, s)
        arrays: dict[str, list[np.ndarray]] = {"noise": [], "sample": [], "label": []}
        for b0 in range(start, stop, batch_size):
            b1 = min(b0 + batch_size, stop)
            drawn = [pair_noise(seed, i, shape, label_dim) for i in range(b0, b1)]
            noise = np.stack([eps for eps, _ in drawn]).astype(dtype)
            labels = np.array([y for _, y in drawn], np.int64) if label_dim else None
            arrays["noise"].append(noise)
            arrays["sample"].append(sample_batch(noise, labels))
            if labels is not None:
                arrays["label"].append(labels)
            bar.update(b1 - b0)
        writer.write_shard(s, {k: np.concatenate(v) for k, v in arrays.items() if v})
        logger.debug("rank %d wrote shard %d (%d pairs)", rank, s, stop - start)
    bar.close()
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
    return read_manifest(out_dir)
