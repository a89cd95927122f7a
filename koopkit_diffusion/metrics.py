"""Sample-quality metrics.

Distances between two sets of samples of a low-dimensional distribution (the 2-D toy data):
sliced Wasserstein, mean marginal Wasserstein-1, RBF maximum mean discrepancy and energy
distance. All accept numpy arrays or torch tensors of shape ``(n_samples, n_features)`` and
compute in float64 on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["sliced_wasserstein", "marginal_w1", "mmd_rbf", "energy_distance", "wasserstein_1d"]


def _as_2d_float64(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must have shape (n_samples, n_features), got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def _pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_2d_float64(x, "x"), _as_2d_float64(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same n_features, got {x.shape[1]} and {y.shape[1]}"
        )
    return x, y


def wasserstein_1d(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Wasserstein-1 distance between 1-D empirical distributions, column by column.

    Parameters
    ----------
    a : ndarray of shape (n_a, k)
    b : ndarray of shape (n_b, k)

    Returns
    -------
    ndarray of shape (k,)
        ``∫ |F_a⁻¹(q) − F_b⁻¹(q)| dq`` for each column. Equal sample counts use the sorted
        difference; unequal counts integrate the two quantile functions exactly.
    """
    a, b = np.sort(a, axis=0), np.sort(b, axis=0)
    n_a, n_b = a.shape[0], b.shape[0]
    if n_a == n_b:
        return np.mean(np.abs(a - b), axis=0)
    # Piecewise-constant quantile functions: merge the breakpoints i/n_a and j/n_b.
    q = np.union1d(np.arange(1, n_a + 1) / n_a, np.arange(1, n_b + 1) / n_b)
    widths = np.diff(np.concatenate([[0.0], q]))
    ia = np.minimum(np.ceil(q * n_a - 1e-12).astype(int) - 1, n_a - 1)
    ib = np.minimum(np.ceil(q * n_b - 1e-12).astype(int) - 1, n_b - 1)
    return np.sum(np.abs(a[ia] - b[ib]) * widths[:, None], axis=0)


def sliced_wasserstein(x: Any, y: Any, n_directions: int = 512, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance (SW1).

    The mean, over ``n_directions`` random unit directions drawn with a fixed seed, of the 1-D
    Wasserstein-1 distance between the projections of ``x`` and ``y`` (Bonneel et al. 2015).
    Two independent sets of 50k samples of the 2-D checkerboard differ by ≈ 0.0096: report
    that floor beside scores.

    Parameters
    ----------
    x : array-like of shape (n_x, d)
    y : array-like of shape (n_y, d)
    n_directions : int, default 512
    seed : int, default 0
        Seed of the directions; the same seed gives the same directions for every call.

    Returns
    -------
    float
    """
    x, y = _pair(x, y)
    if n_directions < 1:
        raise ValueError(f"n_directions must be a positive integer, got {n_directions}")
    directions = np.random.default_rng(seed).standard_normal((x.shape[1], n_directions))
    directions /= np.linalg.norm(directions, axis=0, keepdims=True)
    return float(np.mean(wasserstein_1d(x @ directions, y @ directions)))


def marginal_w1(x: Any, y: Any) -> float:
    """Mean over features of the 1-D Wasserstein-1 distance between the marginals.

    Parameters
    ----------
    x : array-like of shape (n_x, d)
    y : array-like of shape (n_y, d)

    Returns
    -------
    float
    """
    x, y = _pair(x, y)
    return float(np.mean(wasserstein_1d(x, y)))


def _subsample(x: np.ndarray, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    if max_samples is None or x.shape[0] <= max_samples:
        return x
    return x[rng.choice(x.shape[0], size=max_samples, replace=False)]


def _mean_pairwise(x: np.ndarray, y: np.ndarray, fn, block: int = 2048) -> float:
    """Mean of ``fn(squared distances)`` over all pairs, in blocks to bound memory."""
    total = 0.0
    y_sq = np.sum(y * y, axis=1)
    for start in range(0, x.shape[0], block):
        xb = x[start : start + block]
        d2 = np.sum(xb * xb, axis=1)[:, None] + y_sq[None, :] - 2.0 * xb @ y.T
        total += float(np.sum(fn(np.maximum(d2, 0.0))))
    return total / (x.shape[0] * y.shape[0])


def mmd_rbf(
    x: Any,
    y: Any,
    bandwidth: float | None = None,
    max_samples: int | None = 5000,
    seed: int = 0,
) -> float:
    """Squared maximum mean discrepancy with a Gaussian kernel (Gretton et al. 2012), biased form.

    ``k(a, b) = exp(−‖a − b‖² / (2 h²))``. The bandwidth ``h`` defaults to the median pairwise
    distance of the pooled (subsampled) sets.

    Parameters
    ----------
    x : array-like of shape (n_x, d)
    y : array-like of shape (n_y, d)
    bandwidth : float, optional
        Kernel bandwidth ``h`` > 0; median heuristic when omitted.
    max_samples : int or None, default 5000
        Each set is subsampled (without replacement, with ``seed``) to at most this many rows;
        ``None`` uses all rows (quadratic cost).
    seed : int, default 0

    Returns
    -------
    float
    """
    x, y = _pair(x, y)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_samples, rng), _subsample(y, max_samples, rng)
    if bandwidth is None:
        pooled = _subsample(np.concatenate([x, y]), 2000, rng)
        d = np.sqrt(np.maximum(np.sum((pooled[:, None] - pooled[None]) ** 2, axis=-1), 0.0))
        bandwidth = float(np.median(d[np.triu_indices_from(d, k=1)]))
    if not bandwidth > 0:
        raise ValueError(f"bandwidth must be positive, got {bandwidth}")

    def kernel(d2: np.ndarray) -> np.ndarray:
        return np.exp(-d2 / (2.0 * bandwidth**2))

    kxx = _mean_pairwise(x, x, kernel)
    kyy = _mean_pairwise(y, y, kernel)
    kxy = _mean_pairwise(x, y, kernel)
    return float(kxx + kyy - 2.0 * kxy)


def energy_distance(x: Any, y: Any, max_samples: int | None = 5000, seed: int = 0) -> float:
    """Energy distance ``2 E‖X − Y‖ − E‖X − X'‖ − E‖Y − Y'‖`` (Székely & Rizzo 2013), V-statistic.

    Parameters
    ----------
    x : array-like of shape (n_x, d)
    y : array-like of shape (n_y, d)
    max_samples : int or None, default 5000
        Each set is subsampled to at most this many rows (``None``: all rows).
    seed : int, default 0

    Returns
    -------
    float
    """
    x, y = _pair(x, y)
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_samples, rng), _subsample(y, max_samples, rng)
    exy = _mean_pairwise(x, y, np.sqrt)
    exx = _mean_pairwise(x, x, np.sqrt)
    eyy = _mean_pairwise(y, y, np.sqrt)
    return float(2.0 * exy - exx - eyy)
