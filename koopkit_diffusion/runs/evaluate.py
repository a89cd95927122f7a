"""Evaluate, analyse and sample run directories (``evaluate``, ``analyze``, ``sample``, ``fid``).

A run's record (``run.json``) says what it is: the model kind, its configuration, the data the
samples come from, the teacher run and the pair set. This module only wires run folders to the
evaluation wing: it reads the record once, loads the checkpoint once, hands the models to
:func:`~koopkit_diffusion.evaluation.policy.score_generator` (whose table picks the scores from the
data's name) and writes the report inside the run directory.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from koopkit.io import write_json
from koopkit_diffusion.edm import concat_batches
from koopkit_diffusion.evaluation import analyze_model, evaluate_fid
from koopkit_diffusion.evaluation.inception import inception_stats, load_inception
from koopkit_diffusion.evaluation.plots import plot_samples
from koopkit_diffusion.evaluation.policy import (
    analysis_semantics,
    image_source,
    load_images,
    score_generator,
)

from .record import RunRecord, find_record
from .training import LoadedRun, load_generator, load_teacher

logger = logging.getLogger(__name__)

__all__ = [
    "analyze_run",
    "dataset_fid_stats",
    "evaluate_run",
    "run_fid",
    "sample_run",
]

#: Heun steps of EDM's sampler (Karras et al. 2022), for a teacher whose pairs do not say.
EDM_STEPS = 18


def _teacher_of(run: LoadedRun, teacher: str | os.PathLike | None, device: Any):
    where = teacher or run.record.teacher_run
    return None if where is None else load_teacher(where, device=device)


def pair_set_steps(record: RunRecord) -> int:
    """Steps of the teacher's sampler that made a student run's pair set, from its record.

    Raises
    ------
    FileNotFoundError
        When the record names a pair set that is no longer where it says (pass the steps
        explicitly, or move the pair set back).
    """
    if not record.pairs:
        return EDM_STEPS
    if not Path(record.pairs).is_dir():
        raise FileNotFoundError(
            f"the run's record names the pair set {record.pairs!r} (field 'pairs'), which is not "
            "there; give the teacher's sampler steps explicitly (heun_steps / --heun-steps)"
        )
    pairs_record = find_record(record.pairs)
    steps = (pairs_record.config if pairs_record else {}).get("n_steps")
    if isinstance(steps, int) and steps >= 1:
        return steps
    logger.info("the pair set %s records no sampler steps (imported); using EDM's %d",
                record.pairs, EDM_STEPS)  # fmt: skip
    return EDM_STEPS


def evaluate_run(
    run_dir: str | os.PathLike,
    n: int | None = None,
    seed: int = 0,
    with_teacher: bool = True,
    teacher: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    ref_stats: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    device: str = "cpu",
    heun_steps: int | None = None,
) -> dict[str, Any]:
    """Score a student run's generator and, beside it, its teacher.

    Parameters
    ----------
    run_dir : path-like
        A KDM or KD run.
    n : int, optional
        Number of samples (default 50000 for 2-D data, 2000 for images).
    seed : int, default 0
    with_teacher : bool, default True
        Also sample and score the teacher (the record's teacher run, or ``teacher``).
    teacher : path-like, optional
        Teacher run directory, overriding the record's.
    cache_dir : path-like, optional
        Digits classifier cache (see
        :func:`~koopkit_diffusion.evaluation.classifier.load_digits_classifier`).
    ref_stats, inception_weights : path-like, optional
        Image runs: with the Inception weights, the Inception Score and precision/recall
        (against up to ``n`` images of the record's data when its files are there, else against
        the teacher's samples); with the reference statistics too, FID.
    device : str, default "cpu"
    heun_steps : int, optional
        Heun steps N of the teacher's sampler (``2N − 1`` evaluations). Default: the steps of the
        sampler that made the run's pair set (the pair set's record), so the teacher is scored as
        the student saw it; 18 (EDM's) for a pair set that does not record them (imported).

    Returns
    -------
    dict
        ``{"model": {...}, "teacher": {...}, "kind", "data", "step", "n"}``; each entry holds the
        NFE and sampling seconds beside the scores. Also written to ``run_dir/evaluation.json``.
    """
    run = load_generator(run_dir, device=device)
    denoiser = _teacher_of(run, teacher, device) if with_teacher else None
    if heun_steps is None:
        heun_steps = pair_set_steps(run.record)
    elif isinstance(heun_steps, bool) or not (isinstance(heun_steps, int) and heun_steps >= 1):
        raise ValueError(f"heun_steps must be a positive integer, got {heun_steps!r}")
    scores = score_generator(
        run.model, denoiser, run.record.data, n=n, seed=seed, n_steps=heun_steps,
        cache_dir=cache_dir, ref_stats=ref_stats, inception_weights=inception_weights,
        device=device,
    )  # fmt: skip
    report = {"kind": run.record.kind, "step": run.step, **scores}
    write_json(report, Path(run_dir) / "evaluation.json")
    return report


def analyze_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    teacher: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`~koopkit_diffusion.evaluation.analyze.analyze_model` on a KDM run.

    Parameters
    ----------
    run_dir : path-like
    out_dir : path-like, optional
        Default ``run_dir/analysis``.
    teacher : path-like, optional
        Teacher run directory (overrides the record's); without any, the representability and
        noise-partition analyses are skipped.
    cache_dir : path-like, optional
        Digits classifier cache.
    inception_weights : path-like, optional
        Natural images (CIFAR-10, image folders): the latent–semantic analysis measures semantics
        with Inception pool3 features and Inception classes
        (:func:`~koopkit_diffusion.evaluation.image_scores.inception_semantics`) instead of pixels.
    **kwargs
        ``n``, ``n_flow``, ``k``, ``n_clusters``, ``seed`` of
        :func:`~koopkit_diffusion.evaluation.analyze.analyze_model`.

    Returns
    -------
    dict
        The content of ``analysis.json``.
    """
    run = load_generator(run_dir)
    if run.record.kind != "kdm":
        raise ValueError(f"the latent analyses need a KDM run, got a {run.record.kind!r} run")
    classifier, semantics = analysis_semantics(
        run.record.data, run.model.shape, cache_dir=cache_dir, inception_weights=inception_weights
    )
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "analysis"
    return analyze_model(
        run.model, _teacher_of(run, teacher, "cpu"), out, classifier=classifier,
        semantics=semantics, **kwargs,
    )  # fmt: skip


def sample_run(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    label: int | None = None,
    batch_size: int = 10_000,
    n_steps: int = 18,
    ema: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Draw ``n`` samples from a run (teacher: Heun sampler; student: one step) into an ``.npz``.

    Writes ``out`` (``samples`` and, for conditional models, ``labels``) and a PNG beside it.

    Parameters
    ----------
    run_dir : path-like
        A teacher, KDM or KD run.
    n : int
    out : path-like
        Output ``.npz``.
    seed : int, default 0
    label : int, optional
        One class for every sample of a conditional model (default: uniform random classes).
    batch_size : int, default 10000
    n_steps : int, default 18
        Teacher only: steps of its sampler (EDM's Heun: ``2·n_steps − 1`` evaluations).
    ema : bool, default True
        Teacher only: the averaged weights.
    device : str, default "cpu"

    Returns
    -------
    dict
        ``{"samples": path, "figure": path, "n", "nfe"}``.
    """
    out = Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"the output must end in .npz, got {out}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    kind = RunRecord.read(run_dir).kind
    out.parent.mkdir(parents=True, exist_ok=True)  # a bad output path fails before sampling
    if kind == "teacher":
        model = load_teacher(run_dir, ema=ema, device=device)
        extra, nfe = {"n_steps": n_steps}, model.nfe(n_steps)
    else:
        model, extra, nfe = load_generator(run_dir, device=device).model, {}, 1
    batches = model.sample_batches(n, labels=label, seed=seed, batch_size=batch_size, **extra)
    samples, labels = concat_batches(tqdm(batches, desc="sample", total=-(-n // batch_size)))
    arrays = {"samples": samples.float().numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    np.savez(out, **arrays)
    title = f"{kind}, {nfe} NFE"
    png = plot_samples(samples, out.with_suffix(".png"), labels=labels, title=title)
    return {"samples": str(out), "figure": str(png), "n": n, "nfe": nfe}


def run_fid(
    ref_stats: str | os.PathLike,
    inception_weights: str | os.PathLike,
    *,
    samples: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    n: int = 50_000,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception FID of a samples file or of ``n`` one-step samples drawn from a student run.

    Returns
    -------
    dict
        See :func:`~koopkit_diffusion.evaluation.scores.evaluate_fid`.
    """
    if (samples is None) == (run_dir is None):
        raise ValueError("give exactly one of samples (a file) and run_dir (a student run)")
    if samples is not None:
        images: Any = load_images(samples)
    else:
        model = load_generator(run_dir, device=device).model
        images = (x for x, _ in model.sample_batches(n, seed=seed, batch_size=batch_size))
    return evaluate_fid(images, ref_stats, inception_weights, batch_size=batch_size, device=device)


def dataset_fid_stats(
    data: str | os.PathLike,
    out: str | os.PathLike,
    inception_weights: str | os.PathLike,
    *,
    resolution: int | None = None,
    split: str = "train",
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception reference statistics (``mu``, ``sigma``) of a dataset, saved as ``.npz``.

    Parameters
    ----------
    data : path-like
        A CIFAR-10 archive or folder, a folder of images (with ``resolution``) or an
        ``.npz``/``.npy`` array of images.
    out : path-like
        Output ``.npz``.
    inception_weights : path-like
        ``pt_inception-2015-12-05-*.pth``.

    Returns
    -------
    dict
        ``{"out", "count"}``.
    """
    images = image_source(data, resolution=resolution, split=split)
    model = load_inception(inception_weights, device=device)
    stats = inception_stats(model, images, batch_size=batch_size)
    stats.save(out)
    return {"out": str(out), "count": stats.count}
