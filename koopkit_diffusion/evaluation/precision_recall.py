"""k-NN precision and recall of generated samples (Kynkäänniemi et al. 2019).

Precision: the fraction of generated samples inside the k-NN balls of the real ones (fidelity);
recall: the fraction of real samples inside the k-NN balls of the generated ones (coverage).
Any feature space: Inception-v3 features for images, classifier features for digits.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import as_matrix_pair, subsample

__all__ = ["precision_recall"]


def _kth_neighbour_radii(x: np.ndarray, k: int, block: int) -> np.ndarray:
    """Distance from each row of ``x`` to its ``k``-th nearest other row."""
    sq = np.sum(x * x, axis=1)
    radii = np.empty(x.shape[0])
    for start in range(0, x.shape[0], block):
        xb = x[start : start + block]
        d2 = np.maximum(sq[start : start + block, None] + sq[None, :] - 2.0 * xb @ x.T, 0.0)
        # Column k of the sorted row: column 0 is the point itself (distance 0).
        radii[start : start + block] = np.sqrt(np.partition(d2, k, axis=1)[:, k])
    return radii


def _coverage(queries: np.ndarray, centres: np.ndarray, radii: np.ndarray, block: int) -> float:
    """Fraction of ``queries`` inside at least one ball ``B(centre_j, radius_j)``."""
    c_sq = np.sum(centres * centres, axis=1)
    r2 = radii**2
    inside = 0
    for start in range(0, queries.shape[0], block):
        qb = queries[start : start + block]
        d2 = np.sum(qb * qb, axis=1)[:, None] + c_sq[None, :] - 2.0 * qb @ centres.T
        # A small tolerance keeps exact duplicates (distance 0 up to round-off) inside.
        tol = 1e-9 * (1.0 + r2[None, :])
        inside += int(np.sum(np.any(d2 <= r2[None, :] + tol, axis=1)))
    return inside / queries.shape[0]


def precision_recall(
    real: Any,
    fake: Any,
    k: int = 3,
    max_samples: int | None = 10000,
    seed: int = 0,
    block: int = 1024,
) -> dict[str, float]:
    """Improved precision and recall by k-nearest-neighbour manifolds (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points whose radius is the distance to
    the ``k``-th nearest neighbour within the set (Eq. 1–2 of the paper). *Precision* is the
    fraction of ``fake`` points inside the manifold of ``real`` (sample quality); *recall* is the
    fraction of ``real`` points inside the manifold of ``fake`` (coverage).

    Parameters
    ----------
    real : array-like of shape (n_real, d)
        Reference features (e.g. Inception or classifier features of data).
    fake : array-like of shape (n_fake, d)
        Features of generated samples.
    k : int, default 3
        Neighbourhood size (the paper's default).
    max_samples : int or None, default 10000
        Each set is subsampled (without replacement, with ``seed``) to at most this many rows;
        the cost is quadratic. ``None`` keeps all rows.
    seed : int, default 0
    block : int, default 1024
        Rows per block of the pairwise-distance computation (bounds memory).

    Returns
    -------
    dict
        ``{"precision": float, "recall": float}``, both in ``[0, 1]``.
    """
    real, fake = as_matrix_pair(real, fake)
    if k < 1:
        raise ValueError(f"k must be a positive integer, got {k}")
    rng = np.random.default_rng(seed)
    real, fake = subsample(real, max_samples, rng), subsample(fake, max_samples, rng)
    if min(real.shape[0], fake.shape[0]) <= k:
        raise ValueError(
            f"both sets need more than k={k} samples, got {real.shape[0]} and {fake.shape[0]}"
        )
    precision = _coverage(fake, real, _kth_neighbour_radii(real, k, block), block)
    recall = _coverage(real, fake, _kth_neighbour_radii(fake, k, block), block)
    return {"precision": precision, "recall": recall}
