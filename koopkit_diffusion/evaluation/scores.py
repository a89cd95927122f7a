"""Scores of a one-step generator beside its teacher (behind ``evaluate`` and ``fid``).

- :func:`sample_pair` — samples of the one-step model and of the teacher from the *same* noises,
  with NFE and wall-clock time;
- :func:`evaluate_2d` — SW1 and mean marginal W1 against reference sets;
  :func:`same_noise_scores` — SW1 and RMSE against the teacher's samples of the same noises;
- :func:`evaluate_digits` — classifier-FID, class coverage and k-NN precision/recall in the
  digits classifier's features; :func:`compare_digits` — several generators and the teacher on
  the same noises;
- :func:`evaluate_fid` — Inception FID against reference statistics.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import torch

from koopkit_diffusion.edm import concat_batches, noise_batches

from .classifier import class_coverage, classifier_features
from .inception import inception_stats, load_inception
from .metrics import (
    frechet_distance,
    load_stats,
    marginal_w1,
    sliced_wasserstein,
)
from .precision_recall import precision_recall

__all__ = [
    "compare_digits",
    "evaluate_2d",
    "evaluate_digits",
    "evaluate_fid",
    "same_noise_scores",
    "sample_pair",
]


def _samples(model: Any, noise: torch.Tensor, labels: Any, batch_size: int) -> torch.Tensor:
    """A student's samples of given noises (and classes), through its ``sample_batches``."""
    return concat_batches(model.sample_batches(noise=noise, labels=labels, batch_size=batch_size))[
        0
    ]


def sample_pair(
    model: Any,
    teacher: Any | None,
    n: int,
    seed: int = 0,
    n_steps: int = 18,
    labels: torch.Tensor | int | None = None,
    batch_size: int = 4096,
) -> dict[str, Any]:
    """One-step samples and teacher samples from the same noises ``ε`` (seeded, on the CPU).

    The noises and classes are :func:`koopkit_diffusion.edm.noise_batches`' of ``seed``; the
    student and the teacher map them with their ``sample_batches`` (the teacher with its own
    sampler, from its own noise range).

    Parameters
    ----------
    model : KDM-like
        Has ``sample_batches``, ``shape`` and ``label_dim``.
    teacher : Teacher, DenoiserTeacher or None
        Anything with the teacher protocol (``sample_batches``, ``nfe``, ``label_dim``; see
        :mod:`koopkit_diffusion.teacher.protocol`); ``None`` skips it.
    n : int
    seed : int, default 0
    n_steps : int, default 18
        Steps of the teacher's sampler (``2·n_steps − 1`` evaluations for EDM's Heun).
    labels : torch.Tensor of shape (n,) or int, optional
        Classes for conditional generators; default uniform random from ``seed``. Each of model
        and teacher receives them only if it is conditional.
    batch_size : int, default 4096

    Returns
    -------
    dict
        ``noise`` ``(n, *shape)``, ``labels`` (or None), ``samples``, ``seconds``, ``nfe``
        (1) and, with a teacher, ``teacher_samples``, ``teacher_seconds``, ``teacher_nfe``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if teacher is not None and not callable(getattr(teacher, "sample_batches", None)):
        raise ValueError(
            f"teacher must follow the teacher protocol (sample_batches, integrate), got "
            f"{type(teacher).__name__}; wrap a denoiser function with "
            "koopkit_diffusion.teacher.DenoiserTeacher(fn, shape, ...)"
        )
    shape = tuple(model.shape)
    label_dim = max(int(model.label_dim), int(getattr(teacher, "label_dim", 0) or 0))
    drawn = list(noise_batches(n, shape, seed=seed, batch_size=n, label_dim=label_dim,
                               labels=labels))  # fmt: skip
    noise = torch.cat([eps for eps, _ in drawn])
    labels = None if drawn[0][1] is None else torch.cat([y for _, y in drawn])
    start = time.perf_counter()
    samples = _samples(model, noise, labels if model.label_dim else None, batch_size)
    out = {
        "noise": noise,
        "labels": labels,
        "samples": samples,
        "seconds": time.perf_counter() - start,
        "nfe": 1,
    }
    if teacher is not None:
        start = time.perf_counter()
        batches = teacher.sample_batches(
            noise=noise, labels=labels if teacher.label_dim else None, batch_size=batch_size,
            n_steps=n_steps,
        )  # fmt: skip
        out.update(
            teacher_samples=concat_batches(batches)[0].float(),
            teacher_seconds=time.perf_counter() - start,
            teacher_nfe=teacher.nfe(n_steps),
        )
    return out


def evaluate_2d(samples: Any, references: dict[str, Any], seed: int = 0) -> dict[str, float]:
    """SW1 (512 fixed directions) and mean marginal W1 of ``samples`` against each reference.

    Parameters
    ----------
    samples : array-like of shape (n, 2)
    references : dict of str to array-like of shape (m, 2)
        E.g. ``{"teacher": teacher_samples, "true": data}``.
    seed : int, default 0
        Seed of the SW directions.

    Returns
    -------
    dict
        ``sw_<name>`` and ``marginal_w1_<name>`` for each reference.
    """
    out = {}
    for name, ref in references.items():
        out[f"sw_{name}"] = sliced_wasserstein(samples, ref, seed=seed)
        out[f"marginal_w1_{name}"] = marginal_w1(samples, ref)
    return out


@torch.no_grad()
def same_noise_scores(
    model: Any, pairs: dict[str, torch.Tensor], batch_size: int = 25_000
) -> dict[str, float]:
    """A one-step student against the teacher's samples of the *same* noises.

    Two independent sample sets differ by a sampling floor (SW1 ≈ 0.019 at 50k on the
    checkerboard) that hides the difference between good students. Sampled from the teacher's
    own noises, the student's set shares that sampling noise, which cancels: the SW1 between
    the two sets estimates the same population distance to within 2e-4 from 50k pairs on
    (``benchmarks/bench_kdm_vs_kd.py``). It never exceeds the per-pair RMSE (the pairs are a
    coupling).

    Parameters
    ----------
    model : KDM or KDBaseline
        Anything with ``sample(noise=..., labels=...)``.
    pairs : dict
        ``"noise"`` ``(n, *shape)`` (unscaled ε), ``"sample"`` ``(n, *shape)`` (the teacher's
        outputs), optional ``"label"`` ``(n,)``; torch tensors or numpy arrays, e.g.
        ``PairDataset(path)[:]``. ``shape`` is the model's.
    batch_size : int, default 25000

    Returns
    -------
    dict
        ``sw_same_noise`` (SW1 of the flattened samples, 512 directions) and
        ``rmse_same_noise`` (root mean squared per-pair distance).
    """
    noise, sample, labels = _check_pairs(model, pairs)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    x = _samples(model, noise, labels if model.label_dim else None, batch_size).flatten(1)
    ref = sample.flatten(1).to(x.dtype)
    return {
        "sw_same_noise": sliced_wasserstein(x, ref),
        "rmse_same_noise": float(torch.sqrt(torch.mean(torch.sum((x - ref) ** 2, dim=1)))),
    }


def _check_pairs(model: Any, pairs: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Noise, samples (float tensors) and labels of ``pairs``, checked against ``model``."""
    if not hasattr(pairs, "get") or "noise" not in pairs or "sample" not in pairs:
        raise ValueError("pairs must be a dict with 'noise' and 'sample' (e.g. PairDataset(p)[:])")
    noise, sample = torch.as_tensor(pairs["noise"]), torch.as_tensor(pairs["sample"])
    shape = tuple(getattr(model, "shape", noise.shape[1:]))
    for name, value in (("noise", noise), ("sample", sample)):
        if not value.is_floating_point() or tuple(value.shape[1:]) != shape or not len(value):
            raise ValueError(
                f"pairs[{name!r}] must be a float array of shape (n, {', '.join(map(str, shape))}) "
                f"with n >= 1, got {value.dtype} {tuple(value.shape)}"
            )
    if len(noise) != len(sample):
        raise ValueError(f"pairs hold {len(noise)} noises but {len(sample)} samples")
    labels = pairs.get("label")
    if labels is not None:
        labels = torch.as_tensor(labels)
        if labels.shape != (len(noise),) or labels.is_floating_point():
            raise ValueError(
                f"pairs['label'] must be integers of shape ({len(noise)},), got "
                f"{labels.dtype} {tuple(labels.shape)}"
            )
    return noise, sample, labels


def evaluate_digits(samples: Any, classifier: Any, reference: Any, k: int = 3) -> dict[str, Any]:
    """Classifier-FID, class coverage and k-NN precision/recall of generated digits.

    Parameters
    ----------
    samples : tensor of shape (n, 1, 8, 8)
        Generated digits in ``[−1, 1]``.
    classifier : koopkit_diffusion.evaluation.classifier.DigitsClassifier
    reference : tensor of shape (m, 1, 8, 8)
        Real digits (e.g. ``digits("train")[0]``).
    k : int, default 3
        Neighbourhood of precision/recall.

    Returns
    -------
    dict
        ``classifier_fid``, ``coverage`` (see
        :func:`~koopkit_diffusion.evaluation.classifier.class_coverage`), ``precision``, ``recall``.
    """
    fake = classifier_features(classifier, samples).double().numpy()
    real = classifier_features(classifier, reference).double().numpy()
    fid = frechet_distance(
        fake.mean(0), np.cov(fake, rowvar=False), real.mean(0), np.cov(real, rowvar=False)
    )
    return {
        "classifier_fid": fid,
        "coverage": class_coverage(classifier, samples),
        **precision_recall(real, fake, k=k),
    }


def compare_digits(
    models: dict[str, Any],
    teacher: Any | None,
    classifier: Any,
    reference: Any,
    n: int = 2000,
    seed: int = 0,
    n_steps: int = 18,
) -> dict[str, dict[str, Any]]:
    """Score one-step digit generators and their teacher on the same noises.

    Every model and the teacher map the same ``n`` seeded noises; each gets
    :func:`evaluate_digits` plus its NFE and sampling seconds.

    Parameters
    ----------
    models : dict of str to KDM-like
        E.g. ``{"KDM": kdm, "KD": kd}``.
    teacher : Teacher or None
        Sampled with ``n_steps`` steps of its sampler (EDM's Heun: ``2·n_steps − 1`` NFE) under
        the name ``"teacher"``.
    classifier : koopkit_diffusion.evaluation.classifier.DigitsClassifier
    reference : tensor of shape (m, 1, 8, 8)
        Real digits.
    n : int, default 2000
    seed : int, default 0
    n_steps : int, default 18

    Returns
    -------
    dict of str to dict
        ``{"teacher": {...}, "KDM": {...}, ...}`` with ``classifier_fid``, ``coverage``,
        ``precision``, ``recall``, ``nfe``, ``sampling_seconds``.
    """
    results: dict[str, dict[str, Any]] = {}
    for i, (name, model) in enumerate(models.items()):
        pair = sample_pair(model, teacher if i == 0 else None, n, seed=seed, n_steps=n_steps)
        if "teacher_samples" in pair:
            results["teacher"] = {
                "nfe": pair["teacher_nfe"],
                "sampling_seconds": pair["teacher_seconds"],
                **evaluate_digits(pair["teacher_samples"], classifier, reference),
            }
        results[name] = {
            "nfe": pair["nfe"],
            "sampling_seconds": pair["seconds"],
            **evaluate_digits(pair["samples"], classifier, reference),
        }
    return results


def evaluate_fid(
    samples: Any,
    ref_stats: str | os.PathLike,
    inception_weights: str | os.PathLike,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception FID of ``samples`` against reference statistics (Heusel et al. 2017).

    Parameters
    ----------
    samples : tensor or ndarray of shape (n, C, H, W), or iterable of such batches
        In ``[−1, 1]`` (or uint8).
    ref_stats : path-like
        ``.npz`` with ``mu`` and ``sigma`` of the same network on the reference set.
    inception_weights : path-like
        ``pt_inception-2015-12-05-6726825d.pth``.
    batch_size : int, default 64
    device : str, default "cpu"

    Returns
    -------
    dict
        ``fid`` and ``n`` (number of samples).
    """
    mu_ref, sigma_ref = load_stats(ref_stats)
    model = load_inception(inception_weights, device=device)
    stats = inception_stats(model, samples, batch_size=batch_size)
    return {
        "fid": frechet_distance(stats.mean, stats.covariance, mu_ref, sigma_ref),
        "n": stats.count,
    }
