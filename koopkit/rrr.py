"""Reduced-rank regression (RRR) estimators of the Koopman operator, with a dictionary or a kernel.

EDMD's default route (principal-component regression, "pcr") keeps the ``r`` directions in
which the lifted states ``psi(X)`` vary most, whether or not they predict ``psi(Y)``.
Reduced-rank regression minimizes the regularized prediction risk under a rank constraint,

``min_{rank(K) <= r} ||Psi_Y - Psi_X K||_F^2 + gamma m ||K||_F^2``,

and keeps the ``r`` directions that predict best (Kostic, Novelli, Maurer, Ciliberto, Rosasco &
Pontil 2022, "Learning dynamical systems via Koopman operator regression in reproducing kernel
Hilbert spaces", NeurIPS, Eq. 8 and Theorem 2). With the ridge solution
``K_ridge = (C_X + gamma I)^{-1} C_XY`` (``C_X = Psi_X^T Psi_X / m``, ``C_XY = Psi_X^T Psi_Y / m``)
the answer is ``K_r = K_ridge V_r V_r^T``, where ``V_r`` are the leading right singular vectors of
``(C_X + gamma I)^{-1/2} C_XY``; at full rank ``K_r = K_ridge``.

Both functions return the reduced operator and the lift of :class:`koopkit.EDMD`'s bookkeeping
(eigenfunctions ``phi(x) = features(x) @ lift @ eta`` for ``reduced @ eta = lambda eta``) and
the two factors that define the model's singular functions for the VAMP-2 score.
"""

from __future__ import annotations

from koopkit.linalg import truncated_svd

__all__ = ["reduced_rank_edmd", "reduced_rank_kernel", "top_eigh"]


def top_eigh(ops, M, k: int | None = None) -> tuple:
    """Leading ``k`` eigenpairs of a symmetric matrix, eigenvalues decreasing.

    Parameters
    ----------
    ops : backend
    M : array of shape (m, m)
        Symmetric (it is symmetrized first).
    k : int or None, default None
        Number of pairs; ``None`` for all.

    Returns
    -------
    evals : array of shape (k,)
    vecs : array of shape (m, k)

    Notes
    -----
    On numpy a partial LAPACK solver (``syevr`` through :func:`scipy.linalg.eigh` with
    ``subset_by_index``) computes only the ``k`` wanted pairs, several times faster than the
    full decomposition for ``k << m``; torch has no partial solver and slices the full one.
    """
    M = (M + M.T) / 2
    m = M.shape[0]
    k = m if k is None else int(k)
    if ops.name == "numpy" and k < m:
        import scipy.linalg

        evals, vecs = scipy.linalg.eigh(M, subset_by_index=[m - k, m - 1], driver="evr")
    else:
        evals, vecs = ops.eigh(M)
        evals, vecs = evals[m - k :], vecs[:, m - k :]
    return ops.flip(evals, 0), ops.flip(vecs, 1)


def _rank_rule(rank):
    return -1 if rank is None else rank


def reduced_rank_edmd(
    ops, psi_x, psi_y, rank=None, regularization: float = 0.0, svd: str = "svd"
) -> tuple:
    """Reduced-rank regression in the features of a dictionary (row convention).

    Parameters
    ----------
    ops : backend (see :mod:`koopkit._backend`)
    psi_x, psi_y : arrays of shape (m, p)
        Lifted current and successor states.
    rank : int, float, or None, default None
        Rank rule (:mod:`koopkit.linalg`) on the singular values of the whitened
        cross-covariance; ``None`` keeps all (the ridge estimator).
    regularization : float, default 0.0
        Tikhonov ``gamma``, on the normalized covariance ``C_X``.
    svd : str, default "svd"
        SVD path for ``Psi_X``.

    Returns
    -------
    koopman_matrix : array of shape (p, p)
        ``K_r`` with ``Psi_Y ≈ Psi_X K_r``.
    reduced : array of shape (r, r)
        ``V_r^T K_ridge V_r``: its eigenvalues are the nonzero eigenvalues of ``K_r``.
    lift : array of shape (p, r)
        ``K_ridge V_r``; eigenvector ``eta`` of ``reduced`` gives ``K_r (lift eta) = lambda
        lift eta``, and the columns span the range of ``K_r``.
    scores_out : array of shape (m, r)
        Sample values whose regression on ``Psi_Y`` spans the model's output singular
        functions (see :func:`koopkit.model_selection.vamp2_score`).
    """
    m = psi_x.shape[0]
    U, s, Vh = truncated_svd(psi_x, -1, svd, check_finite=False)
    keep = s > s[0] * max(psi_x.shape) * ops.eps  # the pinv cutoff: exact zeros carry nothing
    U, s, Vh = U[:, keep], s[keep], Vh[keep]
    Uy = U.T @ psi_y  # (r0, p)
    whiten = s / ops.sqrt_nonneg(s**2 + m * regularization)
    P, _, Vr = truncated_svd(whiten[:, None] * Uy, _rank_rule(rank), "svd", check_finite=False)
    Vr = Vr.T  # (p, r)
    K_ridge = Vh.T @ ((s / (s**2 + m * regularization))[:, None] * Uy)
    lift = K_ridge @ Vr
    return lift @ Vr.T, Vr.T @ lift, lift, U @ (whiten[:, None] * P)


def reduced_rank_kernel(ops, K_X, K_Y, K_YX, rank=None, regularization: float = 0.0) -> tuple:
    """Kernel reduced-rank regression through Gram matrices (Kostic et al. 2022, Theorem 2).

    With ``K_X = Q Lambda Q^T`` (resolvable directions, ``lambda > 1e-14 lambda_max``),
    ``D = diag(sqrt(lambda / (lambda + m gamma)))`` and the eigen-decomposition
    ``D Q^T K_Y Q D = P Sigma^2 P^T`` (top ``r``), the estimator is the operator
    ``Phi_X^T lift W^T Phi_Y`` with ``W = Q D P Sigma^{-1}`` and
    ``lift = Q (Lambda + m gamma)^{-1} Q^T K_Y W``: only symmetric eigen-decompositions, no
    generalized non-symmetric problem.

    Parameters
    ----------
    ops : backend
    K_X : array of shape (m, m)
        ``k(X, X)``.
    K_Y : array of shape (m, m)
        ``k(Y, Y)``.
    K_YX : array of shape (m, m)
        ``k(Y, X)`` (row ``i`` the successor ``y_i``).
    rank : int or None, default None
        Rank of the estimator; ``None`` keeps every resolvable direction (the kernel ridge
        estimator).
    regularization : float, default 0.0
        Tikhonov ``gamma``.

    Returns
    -------
    reduced : array of shape (r, r)
        ``W^T K_YX lift``; its eigenvalues are the estimator's.
    lift : array of shape (m, r)
        Eigenfunctions ``phi(x) = k(x, X) lift eta``.
    out_coef : array of shape (m, r)
        ``W``: the model reads the output through ``W^T k(Y, .)``.
    """
    m = K_X.shape[0]
    evals, Q = top_eigh(ops, K_X)
    keep = int((ops.sqrt_nonneg(evals) > 1e-7 * ops.sqrt_nonneg(evals[:1])[0]).sum())
    lam, Q = evals[:keep], Q[:, :keep]
    D = ops.sqrt_nonneg(lam / (lam + m * regularization))
    T = Q.T @ K_Y @ Q
    r = keep if rank is None else min(int(rank), keep)
    sig2, P = top_eigh(ops, D[:, None] * T * D[None, :], r)
    positive = int((sig2 > 1e-14 * sig2[0]).sum())
    r = max(1, min(r, positive))
    P, sigma = P[:, :r], ops.sqrt_nonneg(sig2[:r])
    W = Q @ ((D[:, None] * P) / sigma)
    lift = Q @ ((T @ (D[:, None] * P) / sigma) / (lam + m * regularization)[:, None])
    return W.T @ K_YX @ lift, lift, W
