"""The image scores researchers quote, from one pass of the local Inception-v3 over the samples.

* **FID** (Heusel et al. 2017) against reference statistics (``mu``, ``sigma``);
* **Inception Score** (Salimans et al. 2016): ``exp(E_x KL(p(y|x) ‖ p(y)))`` over 10 splits, with
  ``p(y|x)`` the softmax of the 1008-way logits of the same 2015-12-05 network. As in the original
  TensorFlow code (and torch-fidelity's ``logits_unbiased``), the logits are ``pool3 · Wᵀ``
  without the bias;
* **precision / recall** (Kynkäänniemi et al. 2019) of the pool3 features against the features of
  reference images (the training data, or the teacher's samples).

:func:`image_scores` computes all of them while streaming the samples once; the building blocks
are :func:`inception_score` (logits → IS) and :func:`inception_semantics` (features and a class
per image, the semantic space of the latent–semantic analysis for CIFAR-10).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .inception import FEATURE_DIM, FIDInceptionV3, inception_features, load_inception
from .metrics import FeatureStats, frechet_distance, load_stats
from .precision_recall import precision_recall

__all__ = [
    "frechet_distance_of_features",
    "image_scores",
    "inception_logits",
    "inception_score",
    "inception_semantics",
]


def frechet_distance_of_features(features: Any, mu: Any, sigma: Any) -> float:
    """FID of a set of at most a few thousand feature vectors, in the span of their covariance.

    For ``n`` features with centred rows ``A/√(n−1)`` (so ``Σ₁ = AᵀA``), the trace term
    ``tr (Σ₁^{1/2} Σ₂ Σ₁^{1/2})^{1/2}`` is the sum of the square roots of the eigenvalues of the
    ``n×n`` matrix ``A Σ₂ Aᵀ`` (the same non-zero spectrum as ``Σ₂Σ₁``), so the distance of
    :func:`~koopkit_diffusion.evaluation.metrics.frechet_distance` is computed exactly without
    the two ``d×d`` eigendecompositions (Heusel et al. 2017, Eq. 6). Used when ``n < d``.

    Parameters
    ----------
    features : array-like of shape (n, d)
    mu : array-like of shape (d,)
    sigma : array-like of shape (d, d)
        Reference statistics.

    Returns
    -------
    float
    """
    x = np.asarray(features, dtype=np.float64)
    mu, sigma = np.asarray(mu, dtype=np.float64), np.asarray(sigma, dtype=np.float64)
    if (
        x.ndim != 2
        or x.shape[0] < 2
        or mu.shape != (x.shape[1],)
        or sigma.shape != (x.shape[1],) * 2
    ):
        raise ValueError(
            f"expected features (n >= 2, d), mu (d,) and sigma (d, d); got {x.shape}, {mu.shape}, "
            f"{sigma.shape}"
        )
    mean = x.mean(0)
    a = (x - mean) / np.sqrt(x.shape[0] - 1)
    inner = a @ (0.5 * (sigma + sigma.T)) @ a.T
    eig = np.linalg.eigvalsh(0.5 * (inner + inner.T))
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eig, 0.0, None))))
    diff = mean - mu
    value = float(diff @ diff + np.sum(a * a) + np.trace(sigma) - 2.0 * trace_sqrt)
    return max(value, 0.0)


def inception_logits(model: FIDInceptionV3, features: torch.Tensor) -> torch.Tensor:
    """The 1008-way logits of the Inception Score: ``features · Wᵀ`` without the bias.

    Parameters
    ----------
    model : FIDInceptionV3
    features : torch.Tensor of shape (n, 2048)
        pool3 features.

    Returns
    -------
    torch.Tensor of shape (n, 1008), float64
    """
    weight = model.fc.weight.detach().to(device="cpu", dtype=torch.float64)
    return features.to(torch.float64) @ weight.T


def inception_score(logits: Any, splits: int = 10) -> tuple[float, float]:
    """Inception Score of a set of samples from their classifier logits (Salimans et al. 2016).

    ``IS = exp(mean_x KL(p(y|x) ‖ p(y)))`` with ``p(y)`` the mean of ``p(y|x)`` over the split,
    computed on ``splits`` equal parts of the samples (in order).

    Parameters
    ----------
    logits : array-like of shape (n, n_classes)
    splits : int, default 10
        The standard protocol: 50k samples in 10 splits.

    Returns
    -------
    mean, std : float
        Over the splits; in ``[1, n_classes]``.
    """
    x = torch.as_tensor(np.asarray(logits), dtype=torch.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"logits must have shape (n, n_classes >= 2), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("logits contain NaN or Inf")
    if not 1 <= splits <= x.shape[0]:
        raise ValueError(f"splits must lie in [1, n] = [1, {x.shape[0]}], got {splits}")
    log_p = torch.log_softmax(x, dim=1)
    scores = []
    for part in torch.tensor_split(log_p, splits):
        log_marginal = torch.logsumexp(part, dim=0) - np.log(part.shape[0])
        kl = (part.exp() * (part - log_marginal)).sum(1).mean()
        scores.append(float(kl.exp()))
    return float(np.mean(scores)), float(np.std(scores))


def _batches(images: Any, batch_size: int) -> Iterable[Any]:
    if isinstance(images, (torch.Tensor, np.ndarray)):
        for start in range(0, images.shape[0], batch_size):
            yield images[start : start + batch_size]
    else:
        yield from images


def _subsampled_features(
    model: FIDInceptionV3, images: Any, max_samples: int, batch_size: int, seed: int
) -> np.ndarray:
    """Features of at most ``max_samples`` images (a seeded subset of an array)."""
    if isinstance(images, (torch.Tensor, np.ndarray)) and images.shape[0] > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(images.shape[0], max_samples, False))
        images = images[torch.from_numpy(idx)] if isinstance(images, torch.Tensor) else images[idx]
    feats = [inception_features(model, b).numpy() for b in _batches(images, batch_size)]
    return np.concatenate(feats)[:max_samples]


def image_scores(
    samples: Any,
    inception_weights: str | os.PathLike | FIDInceptionV3,
    *,
    ref_stats: str | os.PathLike | None = None,
    reference: Any = None,
    k: int = 3,
    max_pr_samples: int = 10_000,
    splits: int = 10,
    batch_size: int = 64,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """FID, Inception Score and precision/recall of ``samples`` in one pass of Inception-v3.

    Parameters
    ----------
    samples : tensor or ndarray of shape (n, C, H, W), or an iterable of such batches
        Samples in ``[−1, 1]`` or uint8 images (see :func:`~.inception.preprocess`).
    inception_weights : path-like or FIDInceptionV3
        ``pt_inception-2015-12-05-6726825d.pth`` (or the loaded network).
    ref_stats : path-like, optional
        ``.npz`` with ``mu``, ``sigma`` of the reference set: adds ``fid``.
    reference : tensor, ndarray or iterable of batches, optional
        Reference images (training data, or the teacher's samples): adds ``precision`` and
        ``recall`` (k-NN manifolds of pool3 features, at most ``max_pr_samples`` per side).
    k : int, default 3
    max_pr_samples : int, default 10000
    splits : int, default 10
        Inception Score splits (fewer when there are fewer samples).
    batch_size : int, default 64
    seed : int, default 0
        Subsampling of the precision/recall sets.
    device : str, default "cpu"
    progress : bool, default True

    Returns
    -------
    dict
        ``n``, ``inception_score``, ``inception_score_std``; ``fid`` with ``ref_stats``;
        ``precision``, ``recall`` with ``reference``.
    """
    model = (
        inception_weights
        if isinstance(inception_weights, FIDInceptionV3)
        else load_inception(inception_weights, device=device)
    )
    stats, logits, kept = FeatureStats(FEATURE_DIM), [], []  # kept: the first features
    keep = max_pr_samples if reference is not None else FEATURE_DIM
    for batch in tqdm(_batches(samples, batch_size), desc="inception", disable=not progress):
        features = inception_features(model, batch)
        stats.update(features)
        logits.append(inception_logits(model, features))
        if sum(len(f) for f in kept) < max(keep, FEATURE_DIM):
            kept.append(features.numpy())
    if stats.count < 2:
        raise ValueError(f"need at least 2 samples to score, got {stats.count}")
    mean, std = inception_score(torch.cat(logits), splits=min(splits, stats.count))
    out: dict[str, Any] = {"n": stats.count, "inception_score": mean, "inception_score_std": std}
    if ref_stats is not None:
        mu, sigma = load_stats(ref_stats)
        if stats.count < FEATURE_DIM:  # all features kept: the n×n form is exact and cheaper
            out["fid"] = frechet_distance_of_features(np.concatenate(kept), mu, sigma)
        else:
            out["fid"] = frechet_distance(stats.mean, stats.covariance, mu, sigma)
    if reference is not None:
        real = _subsampled_features(model, reference, max_pr_samples, batch_size, seed)
        fake = np.concatenate(kept)[:max_pr_samples]
        out.update(precision_recall(real, fake, k=k, max_samples=None))
    return out


def inception_semantics(
    inception_weights: str | os.PathLike | FIDInceptionV3, device: str = "cpu"
) -> Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray]]:
    """Semantic features and classes of images: pool3 features and the Inception class.

    The semantic space of the latent–semantic analysis for natural images (CIFAR-10, FFHQ,
    AFHQ), where the digits classifier has no say.

    Parameters
    ----------
    inception_weights : path-like or FIDInceptionV3
    device : str, default "cpu"

    Returns
    -------
    callable
        ``semantics(images) -> (features, classes)`` with ``images`` of shape (n, C, H, W) in
        ``[−1, 1]``, ``features`` of shape (n, 2048) and ``classes`` (n,) the argmax of the
        1008-way logits; its attribute ``space`` is ``"inception"``.
    """
    model = (
        inception_weights
        if isinstance(inception_weights, FIDInceptionV3)
        else load_inception(inception_weights, device=device)
    )

    def semantics(images: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        features = torch.cat([inception_features(model, b) for b in _batches(images, 64)])
        classes = inception_logits(model, features).argmax(1)
        return features.numpy(), classes.numpy()

    semantics.space = "inception"  # named in analysis.json
    return semantics
