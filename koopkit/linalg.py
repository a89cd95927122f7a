"""Truncated singular value decomposition with the rank rules used in the DMD literature.

Rank rules (the same as PyDMD's ``svd_rank``):

- ``int r > 0``: keep ``r`` singular values.
- ``float`` in (0, 1): keep the fewest values whose cumulative energy ``sum(s[:r]**2) /
  sum(s**2)`` reaches the fraction.
- ``None`` or ``0``: the optimal hard threshold of Gavish & Donoho (2014, IEEE Trans. Inf.
  Theory 60(8), Eq. 4) for unknown noise level, ``tau = omega(beta) * median(s)``.
- ``-1``: no truncation (all ``min(m, n)`` values).

Every rule is capped at the **numerical rank**: singular values at the round-off level of the
path carry no information, and dividing by them gives spurious eigenvalues. An explicit integer
rank above the numerical rank is lowered to it with a :class:`NumericalRankWarning`; a zero
matrix raises a ``ValueError``.

Paths (``method``):

- ``"svd"``: thin LAPACK SVD, ``O(m n min(m, n))``; the reference.
- ``"gram"``: the method of snapshots (Sirovich 1987): eigen-decomposition of the small Gram
  matrix ``X X^H`` or ``X^H X``. Fast for tall or wide data. Squaring the matrix hides the
  singular values below ``s_max sqrt(max(m, n) eps)``; when the rule needs any of them (an
  integer rank beyond them, ``-1``, an energy fraction or a threshold that reaches them), the
  thin SVD is computed instead, so every path keeps the same rank.
- ``"randomized"``: randomized range finder with oversampling and power iterations (Halko,
  Martinsson & Tropp 2011, SIAM Rev. 53(2), Algorithms 4.4 and 5.1). Needs an integer rank.
- ``"auto"``: the cheapest accurate path for the shape and rank
  (:func:`choose_svd_method`): gram for tall or wide matrices, randomized for a small integer
  rank of a large matrix, the thin SVD otherwise.

All functions take real or complex numpy arrays or torch tensors and return the same kind.
"""

from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from koopkit._backend import ops_for

__all__ = [
    "truncated_svd",
    "svd_rank",
    "optimal_hard_threshold",
    "choose_svd_method",
    "gram_eigh",
    "NumericalRankWarning",
]

SVD_METHODS = ("auto", "svd", "gram", "randomized")


class NumericalRankWarning(UserWarning):
    """An explicit rank exceeded the numerical rank of the data and was lowered to it."""


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


def _safe_scale(ops, *arrays):
    """A power of two ``c`` with ``max |c X|`` in [1, 2) over the arrays (exact scaling), or
    None if they are all zero."""
    amax = max(float(ops.to_numpy(abs(X).max())) for X in arrays)
    if amax == 0.0:
        return None
    if amax < ops.tiny:
        raise ValueError(
            f"the data are subnormal (max |X| = {amax:.3g} < {ops.tiny:.3g}, the smallest "
            f"normal {ops.real_dtype}) and carry too few significant bits; rescale them"
        )
    return math.ldexp(1.0, -math.frexp(amax)[1] + 1)


def _gram_in_range(ops, diag) -> bool:
    """True if a Gram matrix with this diagonal neither overflowed nor sank towards underflow."""
    gmax = float(ops.to_numpy(diag.max()))
    return math.isfinite(gmax) and gmax > ops.tiny / ops.eps


def _check_singular_values(ops, s_max: float, shape) -> None:
    if s_max == 0.0:
        raise ValueError(
            f"the data matrix of shape {tuple(shape)} is zero: there is nothing to decompose"
        )
    if not math.isfinite(s_max):
        raise ValueError(
            f"the largest singular value of the data (shape {tuple(shape)}) overflows "
            f"{ops.real_dtype}; rescale the data"
        )


def _cap_rank(r_rule: int, r_num: int, rank, what: str) -> int:
    """Lower the rank of a rule to the numerical rank, warning if an explicit rank asked more."""
    if r_rule <= r_num:
        return r_rule
    if isinstance(rank, numbers.Integral) and rank > 0:
        warnings.warn(
            f"rank={rank} exceeds the numerical rank {r_num} of {what}; using rank {r_num} "
            "(directions beyond it are round-off and would give spurious eigenvalues)",
            NumericalRankWarning,
            stacklevel=4,
        )
    return r_num


def _top_eigh(ops, G, r: int, max_iter: int = 8):
    """The ``r`` largest eigenpairs of a Hermitian positive semi-definite ``G`` (k, k).

    Block subspace iteration with Rayleigh-Ritz (Saad 2011, Numerical Methods for Large
    Eigenvalue Problems, Alg. 5.3) on ``r + 10`` vectors: each step costs two thin products,
    against the ``O(k^3)`` of a dense eigensolver. The result is accepted only when every
    residual ``|G v - theta v|`` is below ``k eps theta_max``, the accuracy of the dense
    solver itself; spectra without a clear gap after ``r`` fall back to ``ops.eigh_top``.
    """
    k = G.shape[0]
    ell = r + 10
    if 4 * ell > k:  # a dense solve of a small matrix is cheaper than iterating
        return ops.eigh_top(G, r)
    start = ops.normal((k, ell), seed=0)
    V = ops.qr(G @ (ops.ascomplex(start) if ops.complex_data else start))
    for step in range(max_iter):
        GV = G @ V
        theta, S = ops.eigh(V.conj().T @ GV)
        theta, S = ops.flip(theta, 0), ops.flip(S, 1)
        V, GV = V @ S, GV @ S
        residual = GV[:, :r] - V[:, :r] * theta[:r]
        values = ops.to_numpy(theta)
        worst = float(ops.to_numpy((abs(residual) ** 2).sum(0).max())) ** 0.5
        tol = k * ops.eps * values[0]
        if worst <= tol:
            return theta[:r], V[:, :r]
        # Each step shrinks the residual by about theta_ell / theta_r: give up early when the
        # remaining steps cannot reach the tolerance (no clear gap after r).
        rate = max(values[-1], 0.0) / values[r - 1] if values[r - 1] > 0 else 1.0
        if rate >= 1.0 or worst * rate ** (max_iter - step - 1) > tol:
            break
        V = ops.qr(GV)
    return ops.eigh_top(G, r)


def gram_eigh(ops, G, shape: tuple[int, int], rank=None):
    """Leading singular values and vectors of a matrix ``X`` from its Gram matrix.

    The method of snapshots (Sirovich 1987): for ``G = X^H X`` (or ``X X^H``) of shape (k, k),
    ``G = W diag(s^2) W^H``. Squaring the matrix squares its condition number, so singular
    values below ``s_max sqrt(max(m, n) eps)`` are round-off of the Gram product and are not
    resolved. When the rule needs any of them, the answer is ``None``: the caller computes an
    exact SVD, which keeps the rule's rank up to the numerical rank of ``X`` (a lower rank
    here would be a silent truncation).

    Parameters
    ----------
    ops : backend of ``G`` (see :mod:`koopkit._backend`)
    G : array of shape (k, k)
        Hermitian positive semi-definite Gram matrix of a matrix of shape ``shape``.
    shape : tuple of int
        Shape ``(m, n)`` of the matrix whose Gram ``G`` is (for the rank rules).
    rank : int, float, or None
        Rank rule (see the module docstring).

    Returns
    -------
    s : array of shape (r,)
        Singular values, decreasing.
    W : array of shape (k, r)
        Eigenvectors of ``G`` (right singular vectors for ``X^H X``, left ones for ``X X^H``).
    Or ``None`` when the rule needs singular values that ``G`` does not resolve.

    Raises
    ------
    ValueError
        If ``G`` is zero or its largest eigenvalue overflows.
    """
    k = G.shape[0]
    int_rank = isinstance(rank, numbers.Integral) and not isinstance(rank, bool) and rank > 0
    if int_rank:
        evals, W = _top_eigh(ops, G, min(int(rank), k))
    else:
        evals, W = ops.eigh(G)
        evals, W = ops.flip(evals, 0), ops.flip(W, 1)
    s = ops.sqrt_nonneg(ops.real(evals))
    _check_singular_values(ops, float(ops.to_numpy(s[0])), shape)
    resolved = int((s > float(ops.to_numpy(s[0])) * math.sqrt(max(shape) * ops.eps)).sum())
    if int_rank:
        return (s[:rank], W[:, :rank]) if rank <= resolved else None
    if resolved == k:
        r = svd_rank(s, shape, rank)
        return s[:r], W[:, :r]
    # The rule sees the unresolved tail as zeros. Its answer stands only if it stops before
    # that tail and, for the optimal hard threshold, the median it uses is a resolved value.
    s_clean = ops.to_numpy(s).copy()
    s_clean[resolved:] = 0.0
    r = svd_rank(s_clean, shape, rank)
    median_resolved = k // 2 < resolved
    if r >= resolved or ((rank is None or rank == 0) and not median_resolved):
        return None
    return s[:r], W[:, :r]


def _gram_svd(ops, X, rank):
    """Method of snapshots: eigen-decompose the smaller of ``X^H X`` and ``X X^H``.

    Only the kept singular vectors are formed: one Gram product, one small eigen-decomposition
    and one thin product with ``X``. Data whose Gram matrix would overflow or underflow is
    scaled by a power of two first (exact, so the vectors are unchanged). ``None`` when the
    rule needs singular values that the Gram matrix does not resolve (see :func:`gram_eigh`).
    """
    m, n = X.shape
    tall = m >= n

    def gram(A):
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected below
            return A.conj().T @ A if tall else A @ A.conj().T

    G, c = gram(X), 1.0
    if not _gram_in_range(ops, ops.real(G.diagonal())):
        c = _safe_scale(ops, X)
        if c is None:
            _check_singular_values(ops, 0.0, X.shape)
        X = X * c
        G = gram(X)
    found = gram_eigh(ops, G, (m, n), rank)
    if found is None:
        return None
    s, W = found
    s_out = s / c
    _check_singular_values(ops, float(ops.to_numpy(s_out[0])), X.shape)
    if tall:
        return (X @ W) / s, s_out, W.conj().T
    return W, s_out, (W.conj().T @ X) / s[:, None]


def _exact_rank(ops, s, shape, rank) -> int:
    """Rank kept from exact singular values: the rule, capped at the numerical rank."""
    s_max = float(ops.to_numpy(s[0]))
    _check_singular_values(ops, s_max, shape)
    r_num = int((s > s_max * (max(shape) * ops.eps)).sum())
    r_rule = svd_rank(s, shape, rank)
    return _cap_rank(r_rule, r_num, rank, f"the {shape[0]}x{shape[1]} data matrix")


def _randomized_svd(ops, X, k: int, oversample: int, n_power_iter: int, seed: int):
    """Range finder with subspace iteration (Halko et al. 2011, Alg. 4.4), then Alg. 5.1.

    Works on the wide orientation (a tall ``X`` is decomposed through ``X^H``), so every
    orthonormalization is of a short ``(min(m, n), l)`` block; the long products are not
    orthonormalized in between, which is stable for the few power iterations used here. The
    sketch also tells the scale of the data: data far from unit scale are rescaled by an exact
    power of two before anything can overflow.
    """
    m, n = X.shape
    if m > n:
        V, s, Uh = _randomized_svd(ops, X.conj().T, k, oversample, n_power_iter, seed)
        return Uh.conj().T, s, V.conj().T
    ell = min(k + oversample, m)
    omega = ops.normal((n, ell), seed)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected below
        sketch = X @ (ops.ascomplex(omega) if ops.complex_data else omega)
    size = float(ops.to_numpy(abs(sketch).max()))
    if not 2.0**-500 < size < 2.0**500:  # includes NaN from overflow
        c = _safe_scale(ops, X)
        if c is None:
            _check_singular_values(ops, 0.0, X.shape)
        U, s, Vh = _randomized_svd(ops, X * c, k, oversample, n_power_iter, seed)
        s = s / c
        _check_singular_values(ops, float(ops.to_numpy(s[0])), X.shape)
        return U, s, Vh
    Q = ops.qr(sketch)
    for _ in range(n_power_iter):
        Q = ops.qr(X @ (X.conj().T @ Q))
    # SVD of B = Q^H X (l, n) through its tall transpose, LAPACK's faster orientation.
    V, s, Ubh = ops.svd((Q.conj().T @ X).conj().T)
    r = _exact_rank(ops, s[:k], (m, n), k)
    return Q @ Ubh.conj().T[:, :r], s[:r], V.conj().T[:r]


def truncated_svd(
    X,
    rank=None,
    method: str = "auto",
    oversample: int = 10,
    n_power_iter: int = 2,
    seed: int = 0,
    check_finite: bool = True,
):
    """Truncated SVD ``X ≈ U diag(s) Vh`` under a rank rule, capped at the numerical rank.

    Parameters
    ----------
    X : array of shape (m, n)
        Real or complex matrix (numpy array or torch tensor).
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
        Singular values, decreasing, all above the numerical-rank tolerance.
    Vh : array of shape (r, n)
        Right singular vectors (orthonormal rows).

    Warns
    -----
    NumericalRankWarning
        When an explicit integer ``rank`` exceeds the numerical rank of ``X`` (singular values
        above ``s_max max(m, n) eps``, on every path); ``r`` is then the numerical rank. Other
        rules are capped silently.

    Raises
    ------
    ValueError
        For a matrix that is not 2-D, not finite or zero, whose singular values overflow, an
        unknown method, a malformed rank rule, a rank larger than ``min(m, n)``, or a
        non-integer rank with ``method="randomized"``.
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
    if method == "randomized" and not (isinstance(rank, numbers.Integral) and rank > 0):
        raise ValueError(
            f"method='randomized' needs a positive integer rank, got {rank!r}; "
            "use method='svd' or 'gram' for energy or optimal-threshold rules"
        )
    if method == "gram":
        found = _gram_svd(ops, X, rank)
        if found is not None:
            return found
        method = "svd"  # the rule needs singular values below the Gram matrix's resolution
    if method == "randomized":
        return _randomized_svd(ops, X, int(rank), oversample, n_power_iter, seed)
    # LAPACK can fail on data near the floating-point limits: scale such data by an exact
    # power of two (singular vectors unchanged).
    c = _safe_scale(ops, X)
    if c is None:
        _check_singular_values(ops, 0.0, shape)
    if 2.0**-500 < c < 2.0**500:
        c = 1.0
    else:
        X = X * c
    if shape[0] < shape[1]:
        # LAPACK is about twice as fast on the tall orientation; the transpose is a view.
        V, s, Uh = ops.svd(X.T)
        U, Vh = Uh.T, V.T
    else:
        U, s, Vh = ops.svd(X)
    r = _exact_rank(ops, s, shape, rank)
    s = s[:r] / c
    _check_singular_values(ops, float(ops.to_numpy(s[0])), shape)
    return U[:, :r], s, Vh[:r]
