"""Truncated singular value decomposition with the rank rules used in the DMD literature.

Rank rules (the same as PyDMD's ``svd_rank``):

- ``int r > 0``: keep ``r`` singular values.
- ``float`` in (0, 1): keep the fewest values whose cumulative energy ``sum(s[:r]**2) /
  sum(s**2)`` reaches the fraction.
- ``None`` or ``0``: the optimal hard threshold of Gavish & Donoho (2014, IEEE Trans. Inf.
  Theory 60(8), Eq. 4) for unknown noise level, ``tau = omega(beta) * median(s)``.
- ``-1``: no truncation (all ``min(m, n)`` values).

Paths (``method``):

- ``"svd"``: thin LAPACK SVD, ``O(m n min(m, n))``; the reference.
- ``"gram"``: the method of snapshots (Sirovich 1987): eigen-decomposition of the small Gram
  matrix ``X X^T`` or ``X^T X``. Fast for tall or wide data; singular values below about
  ``sqrt(eps) * s_max`` are not resolved and are dropped.
- ``"randomized"``: randomized range finder with oversampling and power iterations (Halko,
  Martinsson & Tropp 2011, SIAM Rev. 53(2), Algorithms 4.4 and 5.1). Needs an integer rank.
- ``"auto"``: the cheapest accurate path for the shape and rank
  (:func:`choose_svd_method`): gram for tall or wide matrices, randomized for a small integer
  rank of a large matrix, the thin SVD otherwise.

All functions take numpy arrays or torch tensors and return the same kind.
"""

from __future__ import annotations

import numbers

import numpy as np

from koopkit._backend import ops_for

__all__ = ["truncated_svd", "svd_rank", "optimal_hard_threshold", "choose_svd_method"]

SVD_METHODS = ("auto", "svd", "gram", "randomized")


def _check_rank_rule(rank) -> None:
    if rank is None:
        return
    if isinstance(rank, bool) or not isinstance(rank, numbers.Real):
        raise ValueError(f"rank must be an int, a float in (0, 1), None or -1; got {rank!r}")
    if isinstance(rank, numbers.Integral):
        if rank < -1:
            raise ValueError(
                f"integer rank must be positive, 0 (optimal threshold) or -1 (full); got {rank}"
            )
    elif not 0.0 < float(rank) < 1.0:
        raise ValueError(f"a float rank is an energy fraction and must lie in (0, 1); got {rank}")


def optimal_hard_threshold(s: np.ndarray, shape: tuple[int, int]) -> float:
    """Gavish–Donoho optimal hard threshold for singular values with unknown noise level.

    Parameters
    ----------
    s : ndarray of shape (k,)
        All singular values of the matrix, ``k = min(shape)``.
    shape : tuple of int
        Shape ``(m, n)`` of the matrix.

    Returns
    -------
    float
        Threshold ``omega(beta) * median(s)`` with ``beta = min(m, n) / max(m, n)`` and
        ``omega(beta) ≈ 0.56 beta^3 - 0.95 beta^2 + 1.82 beta + 1.43``
        (Gavish & Donoho 2014, Eq. 5).
    """
    beta = min(shape) / max(shape)
    omega = 0.56 * beta**3 - 0.95 * beta**2 + 1.82 * beta + 1.43
    return float(omega * np.median(np.asarray(s)))


def svd_rank(s, shape: tuple[int, int], rank=None) -> int:
    """Number of singular values to keep under a rank rule.

    Parameters
    ----------
    s : array of shape (k,)
        Singular values in decreasing order (numpy or torch).
    shape : tuple of int
        Shape ``(m, n)`` of the decomposed matrix (used by the optimal hard threshold).
    rank : int, float, or None, default None
        Rank rule, see the module docstring.

    Returns
    -------
    int
        Kept rank, at least 1.

    Raises
    ------
    ValueError
        If the rule is malformed or an integer rank exceeds ``min(shape)``.
    """
    _check_rank_rule(rank)
    s = ops_for(s).to_numpy(s).astype(float)
    k = min(shape)
    if rank is None or rank == 0:
        r = int(np.sum(s > optimal_hard_threshold(s, shape)))
    elif isinstance(rank, numbers.Integral):
        if rank == -1:
            return len(s)
        if rank > k:
            raise ValueError(
                f"rank={rank} is larger than the data allows (min{tuple(shape)} = {k})"
            )
        r = int(rank)
    else:
        energy = np.cumsum(s**2) / np.sum(s**2)
        r = int(np.searchsorted(energy, float(rank)) + 1)
    return max(1, min(r, len(s)))


def choose_svd_method(
    shape: tuple[int, int], rank=None, oversample: int = 10, single_precision: bool = False
) -> str:
    """The path ``method="auto"`` takes for a matrix of ``shape`` and a rank rule.

    Matrices with fewer than 10^5 entries use the thin SVD. Elongated matrices (one side at
    least four times the other) use the Gram path, whose cost ``O(k^2 N)`` (``k`` the short
    side, ``N`` the long one) beats the randomized path's ``O(k N l)`` passes while ``k`` is
    below about ``20 l``, ``l = rank + oversample``. Otherwise a positive integer rank with
    ``l`` at most a quarter of the short side uses the randomized path, and everything else
    the thin SVD. In single precision (float32 data) the Gram path would resolve only about
    three decades of singular values, so it is replaced by the randomized path (integer rank)
    or the thin SVD.
    """
    m, n = shape
    small_k, large = min(m, n), max(m, n)
    if m * n < 100_000:
        return "svd"
    int_rank = isinstance(rank, numbers.Integral) and not isinstance(rank, bool) and rank > 0
    fits_randomized = int_rank and rank + oversample <= small_k // 4
    elongated = large >= 4 * small_k
    if single_precision:
        return "randomized" if fits_randomized else "svd"
    if elongated and not (int_rank and small_k > 20 * (rank + oversample)):
        return "gram"
    if fits_randomized:
        return "randomized"
    return "gram" if elongated else "svd"


def _gram_svd(ops, X, rank):
    """Method of snapshots: eigen-decompose the smaller of ``X^T X`` and ``X X^T``.

    Only the kept singular vectors are formed, so the cost is one Gram product, one small
    eigen-decomposition and one thin product with ``X``.
    """
    m, n = X.shape
    tall = m >= n
    evals, W = ops.eigh(X.T @ X if tall else X @ X.T)
    # eigh sorts ascending; singular values are wanted decreasing.
    s = ops.sqrt_nonneg(ops.flip(evals, 0))
    # Squaring the matrix squares its condition number: values below ~sqrt(eps) s_max are noise.
    resolved = max(1, int((s > s[0] * 10 * np.sqrt(ops.eps)).sum()))
    r = min(svd_rank(s, (m, n), rank), resolved)
    s, W = s[:r], ops.flip(W[:, -r:], 1)
    if tall:
        return (X @ W) / s, s, W.T
    return W, s, (W.T @ X) / s[:, None]


def _randomized_svd(ops, X, k: int, oversample: int, n_power_iter: int, seed: int):
    """Range finder with subspace iteration (Halko et al. 2011, Alg. 4.4), then Alg. 5.1."""
    m, n = X.shape
    ell = min(k + oversample, min(m, n))
    Q = ops.qr(X @ ops.normal((n, ell), seed))
    for _ in range(n_power_iter):
        Q = ops.qr(X.T @ Q)
        Q = ops.qr(X @ Q)
    Ub, s, Vh = ops.svd(Q.T @ X)
    return Q @ Ub[:, :k], s[:k], Vh[:k]


def truncated_svd(
    X,
    rank=None,
    method: str = "auto",
    oversample: int = 10,
    n_power_iter: int = 2,
    seed: int = 0,
    check_finite: bool = True,
):
    """Truncated SVD ``X ≈ U diag(s) Vh`` under a rank rule.

    Parameters
    ----------
    X : array of shape (m, n)
        Real matrix (numpy array or torch tensor).
    rank : int, float, or None, default None
        Rank rule (see the module docstring): ``int`` rank, energy fraction in (0, 1),
        ``None``/``0`` for the Gavish–Donoho optimal hard threshold, ``-1`` for full.
    method : {"auto", "svd", "gram", "randomized"}, default "auto"
        Computation path (see the module docstring). ``"randomized"`` needs an integer rank.
    oversample : int, default 10
        Extra random directions of the randomized range finder.
    n_power_iter : int, default 2
        Power (subspace) iterations of the randomized path; each pass sharpens the decay of
        the spectrum seen by the range finder.
    seed : int, default 0
        Seed of the random test matrix (randomized path).
    check_finite : bool, default True
        Check ``X`` for NaN/Inf (one pass over the data; callers that already checked skip it).

    Returns
    -------
    U : array of shape (m, r)
        Left singular vectors (orthonormal columns).
    s : array of shape (r,)
        Singular values, decreasing.
    Vh : array of shape (r, n)
        Right singular vectors (orthonormal rows).

    Raises
    ------
    ValueError
        For a matrix that is not 2-D or not finite, an unknown method, a malformed rank rule,
        a rank larger than ``min(m, n)``, or a non-integer rank with ``method="randomized"``.
    """
    ops = ops_for(X)
    X = ops.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D matrix of shape (m, n), got shape {tuple(X.shape)}")
    if min(X.shape) < 1:
        raise ValueError(f"X must be non-empty, got shape {tuple(X.shape)}")
    if check_finite and not ops.all_finite(X):
        raise ValueError("X contains NaN or Inf; expected finite values")
    if method not in SVD_METHODS:
        raise ValueError(f"method must be one of {SVD_METHODS}, got {method!r}")
    _check_rank_rule(rank)
    shape = tuple(X.shape)
    if isinstance(rank, numbers.Integral) and rank > min(shape):
        raise ValueError(f"rank={rank} is larger than the data allows (min{shape} = {min(shape)})")
    if method == "auto":
        method = choose_svd_method(shape, rank, oversample, single_precision=ops.eps > 1e-10)
    if method == "randomized":
        if not (isinstance(rank, numbers.Integral) and rank > 0):
            raise ValueError(
                f"method='randomized' needs a positive integer rank, got {rank!r}; "
                "use method='svd' or 'gram' for energy or optimal-threshold rules"
            )
        return _randomized_svd(ops, X, int(rank), oversample, n_power_iter, seed)
    if method == "gram":
        return _gram_svd(ops, X, rank)
    if shape[0] < shape[1]:
        # LAPACK is about twice as fast on the tall orientation; the transpose is a view.
        V, s, Uh = ops.svd(X.T)
        U, Vh = Uh.T, V.T
    else:
        U, s, Vh = ops.svd(X)
    r = svd_rank(s, shape, rank)
    return U[:, :r], s[:r], Vh[:r]
