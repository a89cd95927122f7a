"""Pair sets as runs: generated from a teacher run or imported, each with its record.

The pair set's record names the teacher run and the teacher's data, which the students trained on
it inherit (so that evaluation knows what the samples are without guessing).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from koopkit_diffusion import pairs
from koopkit_diffusion.pairs import generate_pairs
from koopkit_diffusion.pairs import info as pair_set_info
from koopkit_diffusion.pairs import verify as verify_pair_set

from .record import RunRecord, claim_directory, find_record
from .training import load_teacher

__all__ = [
    "IMPORT_FORMATS",
    "generate_pair_set",
    "import_pair_set",
    "pair_set_info",
    "verify_pair_set",
]

#: Layouts :func:`import_pair_set` reads (see :mod:`koopkit_diffusion.pairs.importers`).
IMPORT_FORMATS = ("npz-per-pair", "torch-shards", "trajectories")


def _main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def generate_pair_set(
    teacher_run: str | os.PathLike,
    out: str | os.PathLike,
    n: int,
    *,
    batch_size: int = 1024,
    seed: int = 0,
    n_steps: int = 18,
    shard_size: int = 10_000,
    dtype: str = "float32",
    compute_dtype: str | None = None,
    device: str | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run a teacher run's Heun sampler on ``n`` seeded noises and store the pairs in ``out``.

    Under ``torchrun`` every rank takes its share of the shards (on ``cuda:LOCAL_RANK`` when a
    GPU is there); an interrupted call resumes where it stopped.

    Parameters
    ----------
    teacher_run : path-like
    out : path-like
        Pair-set directory (refused if it holds a run of another kind).
    n : int
    batch_size, seed, n_steps, shard_size, dtype, compute_dtype
        See :func:`koopkit_diffusion.pairs.generate.generate_pairs`.
    device : str, optional
        Default ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.
    progress : bool, default True

    Returns
    -------
    dict
        The manifest.
    """
    claim_directory(out, "pairs")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = device or (f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    teacher = load_teacher(teacher_run, device=device)
    manifest = generate_pairs(
        teacher,
        out,
        n,
        batch_size=batch_size,
        seed=seed,
        n_steps=n_steps,
        shard_size=shard_size,
        dtype=dtype,
        compute_dtype=compute_dtype,
        progress=progress,
        teacher_description=f"koopkit teacher run {Path(teacher_run).resolve().name!r}",
    )
    if _main():
        teacher_record = RunRecord.read(teacher_run)
        RunRecord(
            "pairs",
            config={"n": n, "seed": seed, "n_steps": n_steps, "dtype": dtype},
            data=teacher_record.data,
            teacher_run=str(teacher_run),
            source="generated",
        ).write(out)
    return manifest


def import_pair_set(
    format: str,  # noqa: A002 (the user-facing name)
    src: str | os.PathLike,
    out: str | os.PathLike,
    *,
    data: dict[str, Any] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Convert a pair set found in the wild into the project's format, with a record.

    Parameters
    ----------
    format : {"npz-per-pair", "torch-shards", "trajectories"}
    src : path-like
    out : path-like
    data : dict, optional
        What the samples are (a :class:`~koopkit_diffusion.data.DataConfig` as a dict, e.g.
        ``{"name": "cifar10", "root": ...}``), so that evaluation can pick its scores.
    **kwargs
        Passed to the importer (:func:`~koopkit_diffusion.pairs.import_npz_per_pair`,
        :func:`~koopkit_diffusion.pairs.import_torch_shards`,
        :func:`~koopkit_diffusion.pairs.import_trajectories`).

    Returns
    -------
    dict
        The manifest.
    """
    importers = {
        "npz-per-pair": pairs.import_npz_per_pair,
        "torch-shards": pairs.import_torch_shards,
        "trajectories": pairs.import_trajectories,
    }
    if format not in importers:
        raise ValueError(f"format must be one of {IMPORT_FORMATS}, got {format!r}")
    claim_directory(out, "pairs")
    manifest = importers[format](src, out, **kwargs)
    existing = find_record(out)
    if existing is None:
        RunRecord("pairs", config={"src": str(src)}, data=data, source=f"import:{format}").write(
            out
        )
    return manifest
