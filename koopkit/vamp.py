"""The VAMP-2 score (Wu & Noé 2020) and the small regressions that give a model's output functions.

Kept apart from :mod:`koopkit.model_selection` (which needs scikit-learn) so the estimators can
score without importing it. :func:`vamp2_score` is re-exported there.
"""

from __future__ import annotations

import numpy as np

from koopkit._backend import is_torch, ops_for

__all__ = ["vamp2_score"]


def _orthonormal_columns(ops, F):
    U, s, _ = ops.svd(F)
    if s.shape[0] == 0 or float(s[0]) == 0.0:
        return U[:, :0]
    keep = int((s > s[0] * max(F.shape) * ops.eps).sum())
    return U[:, :keep]


def _is_complex(A) -> bool:
    return bool(A.is_complex()) if is_torch(A) else bool(np.iscomplexobj(A))


def vamp2_score(F, G) -> float:
    """VAMP-2 score of input features ``F`` and output features ``G`` on paired samples.

    Parameters
    ----------
    F : array of shape (m, r)
        Input functions evaluated at the current states ``f(x_i)``.
    G : array of shape (m, k)
        Output functions evaluated at the successors ``g(y_i)``.

    Returns
    -------
    float
        ``||C_ff^{-1/2} C_fg C_gg^{-1/2}||_F^2`` (Wu & Noé 2020, Eq. 29) with uncentered
        covariances, computed as ``||Q_F^H Q_G||_F^2`` for orthonormal bases of the column
        spaces (directions below the ``pinv`` cutoff are dropped). Between 0 and
        ``min(r, k)``.
    """
    ops = ops_for(F)
    if F.ndim != 2 or G.ndim != 2 or F.shape[0] != G.shape[0]:
        raise ValueError(
            f"F and G must be 2-D with the same number of rows (m, r) and (m, k), got "
            f"{tuple(F.shape)} and {tuple(G.shape)}"
        )
    if _is_complex(F) or _is_complex(G):
        F, G = ops.ascomplex(F), ops.ascomplex(G)
    else:
        F, G = ops.asarray(F), ops.asarray(G)
    if not (ops.all_finite(F) and ops.all_finite(G)):
        raise ValueError("F and G contain NaN or Inf; expected finite feature values")
    Qf, Qg = _orthonormal_columns(ops, F), _orthonormal_columns(ops, G)
    M = Qf.conj().T @ Qg
    return float((abs(M) ** 2).sum())


def _ridge_fit(ops, A, B, regularization: float):
    """``W`` minimizing ``||A W - B||^2 + m gamma ||W||^2`` (minimum-norm when ``gamma = 0``)."""
    if regularization > 0:
        m, p = A.shape
        return ops.solve(A.T @ A + m * regularization * ops.eye(p), A.T @ B)
    return ops.lstsq(A, B)


def _kernel_ridge_fit(ops, K, B, regularization: float):
    """``(K + m gamma I)^{-1} B``; at ``gamma = 0`` the pseudo-inverse on resolvable directions."""
    m = K.shape[0]
    if regularization > 0:
        return ops.solve(K + m * regularization * ops.eye(m), B)
    evals, Q = ops.eigh((K + K.T) / 2)
    keep = evals > 1e-14 * evals[-1]
    Q, evals = Q[:, keep], evals[keep]
    return Q @ ((Q.T @ B) / evals[:, None])
