"""Time derivatives of sampled trajectories by finite differences of a stated order.

The weights of a stencil are the unique ones that differentiate every polynomial of degree below
its size exactly (a Vandermonde system, :func:`finite_difference_weights`); a stencil of
``order + 1`` points then has error ``O(dt^order)`` on smooth data. :func:`finite_difference`
uses centred stencils inside a trajectory and shifts them inwards at its ends, so every row has
the same order. :class:`koopkit.GeneratorEDMD` uses it when it gets trajectories and ``dt``.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from koopkit._backend import ops_for
from koopkit._base import _check_block

__all__ = ["finite_difference", "finite_difference_weights"]


def finite_difference_weights(offsets) -> np.ndarray:
    """Weights ``w`` with ``f'(0) ≈ sum_j w_j f(offsets_j)`` on a unit grid.

    The unique weights that differentiate every polynomial of degree ``< len(offsets)``
    exactly (the conditions ``sum_j w_j o_j^q = [q == 1]``, ``q = 0 .. s - 1``); the error on a
    smooth function is ``O(h^(s - 1))`` for a grid of step ``h`` (divide by ``h``).

    Parameters
    ----------
    offsets : array-like of shape (s,)
        Distinct integer offsets of the stencil, e.g. ``[-2, -1, 0, 1, 2]``.

    Returns
    -------
    ndarray of shape (s,)
    """
    o = np.asarray(offsets, dtype=float)
    if o.ndim != 1 or o.size < 2 or np.unique(o).size != o.size:
        raise ValueError(f"offsets must be at least 2 distinct numbers, got {offsets!r}")
    V = o[None, :] ** np.arange(o.size)[:, None]  # row q: o_j^q
    rhs = np.zeros(o.size)
    rhs[1] = 1.0
    return np.linalg.solve(V, rhs)


def _check_order(order) -> int:
    if isinstance(order, bool) or not isinstance(order, numbers.Integral) or order < 1:
        raise ValueError(f"fd_order must be an integer >= 1, got {order!r}")
    return int(order)


def _check_dt(dt) -> float:
    if (
        isinstance(dt, bool)
        or not isinstance(dt, numbers.Real)
        or not (math.isfinite(dt) and dt > 0)
    ):
        raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    return float(dt)


@functools.lru_cache(maxsize=64)
def _stencils(T: int, order: int) -> tuple:
    """``(interior weights, [(row, start, weights), ...] at the two ends)`` on a unit grid."""
    s, half = order + 1, order // 2
    interior = finite_difference_weights(np.arange(s) - half)
    ends = []
    for k in [*range(half), *range(T - (s - 1 - half), T)]:
        start = min(max(k - half, 0), T - s)
        ends.append((k, start, finite_difference_weights(np.arange(start, start + s) - k)))
    return interior, ends


def finite_difference(X, dt: float, order: int = 4):
    """Time derivative of trajectories by finite differences of accuracy ``O(dt^order)``.

    Each row uses ``order + 1`` consecutive snapshots, centred where the trajectory allows and
    shifted towards the inside at its two ends, so every row (the first and last included) has
    the same order of accuracy. The weights are :func:`finite_difference_weights`.

    Parameters
    ----------
    X : array of shape (T, n) or (n_traj, T, n)
        Trajectories sampled every ``dt``, samples as rows (numpy or torch).
    dt : float
        Time step.
    order : int, default 4
        Order of accuracy ``>= 1``; trajectories need ``T >= order + 1`` snapshots.

    Returns
    -------
    array of the shape of ``X``
        ``dX/dt`` at every snapshot, numpy or torch as ``X``.
    """
    order = _check_order(order)
    dt = _check_dt(dt)
    ops = ops_for(X)
    X = ops.asarray(X)
    _check_block(ops, X, "X", (2, 3))
    T, s = X.shape[-2], order + 1
    if T < s:
        raise ValueError(
            f"finite differences of order {order} need at least {s} snapshots per trajectory, "
            f"got {T} sample(s)"
        )
    half = order // 2
    interior, ends = _stencils(int(T), order)
    lo, hi = half, T - (s - 1 - half)  # rows whose centred stencil fits
    body = sum(float(interior[j] / dt) * X[..., j : hi - lo + j, :] for j in range(s))
    rows = {
        k: sum(float(w[j] / dt) * X[..., start + j : start + j + 1, :] for j in range(s))
        for k, start, w in ends
    }
    pieces = [rows[k] for k in range(lo)] + [body] + [rows[k] for k in range(hi, T)]
    return ops.concat(pieces, axis=X.ndim - 2)
