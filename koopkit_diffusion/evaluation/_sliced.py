"""Sorting helpers of the 1-D and sliced Wasserstein distances in :mod:`.metrics`."""

from __future__ import annotations

import numpy as np


def _sorted_rows(a: np.ndarray) -> np.ndarray:
    """Each row of ``a`` sorted, in a C-contiguous copy (sorting contiguous rows is ~1.5x
    faster than sorting the strided columns of the samples-as-rows layout)."""
    out = np.array(a, dtype=np.float64, order="C")
    out.sort(axis=1)
    return out


def _w1_sorted_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """W1 between the rows of two arrays of sorted rows, (k, n_a) and (k, n_b) -> (k,)."""
    n_a, n_b = a.shape[1], b.shape[1]
    if n_a == n_b:
        return np.mean(np.abs(a - b), axis=1)
    # Piecewise-constant quantile functions: merge the breakpoints i/n_a and j/n_b.
    q = np.union1d(np.arange(1, n_a + 1) / n_a, np.arange(1, n_b + 1) / n_b)
    widths = np.diff(np.concatenate([[0.0], q]))
    ia = np.minimum(np.ceil(q * n_a - 1e-12).astype(int) - 1, n_a - 1)
    ib = np.minimum(np.ceil(q * n_b - 1e-12).astype(int) - 1, n_b - 1)
    return np.sum(np.abs(a[:, ia] - b[:, ib]) * widths[None, :], axis=1)


def _directions(d: int, n_directions: int, seed: int) -> np.ndarray:
    """``n_directions`` random unit directions in ``d`` dimensions, (d, n_directions)."""
    if n_directions < 1:
        raise ValueError(f"n_directions must be a positive integer, got {n_directions}")
    directions = np.random.default_rng(seed).standard_normal((d, n_directions))
    return directions / np.linalg.norm(directions, axis=0, keepdims=True)
