"""Dynamic mode decomposition: exact and projected modes, total-least-squares, forward-backward.

Samples are rows. For snapshot pairs ``X, Y`` of shape ``(m, n)`` (``Y[i]`` the successor of
``X[i]``), DMD finds the best linear map ``y ≈ A x`` of rank ``r`` (Schmid 2010; Tu et al.
2014, J. Comput. Dyn. 1(2), Algorithm 2). With the truncated SVD ``X = U_t S Vh`` the POD
basis of state space is ``basis_ = Vh.T`` (n, r) and the reduced operator is

``operator_ = Vh @ Y.T @ U_t @ S^-1``        (r, r),  acting on ``z = basis_.T @ x``.

``operator_ @ W = W diag(eigenvalues_)``; the modes are ``Y.T @ U_t @ S^-1 @ W`` ("exact",
Tu et al. Eq. 3.3) or ``basis_ @ W`` ("projected", Schmid 2010). The layout of PyDMD is the
transpose of this one: PyDMD's snapshot matrix is our ``X.T``; the reduced operator, the
eigenvalues and the modes (columns) are the same.
"""

from __future__ import annotations

import numbers

from koopkit._base import BaseEstimator, SpectralModelMixin, snapshot_pairs
from koopkit.linalg import SVD_METHODS, truncated_svd
from koopkit.spectrum import sort_eigenvalues
from koopkit.vamp import vamp2_score

__all__ = ["DMD"]


def _principal_sqrt_near(ops, M, reference):
    """Square root of ``M`` whose eigenvalues are the roots closest to ``reference``'s.

    Forward-backward DMD (Dawson et al. 2016, Exp. Fluids 57, Eq. 3.9) takes
    ``A = (A_f A_b^{-1})^{1/2}``. Each eigenvalue has two square roots; the one nearest the
    forward operator's eigenvalue for the same eigenvector is kept, so eigenvalues with
    negative real part do not flip sign.
    """
    d, W = ops.eig(ops.ascomplex(M))
    Winv = ops.solve(W, ops.ascomplex(ops.eye(W.shape[0])))
    forward = (Winv @ ops.ascomplex(reference) @ W).diagonal()
    root = d**0.5
    flip = abs(-root - forward) < abs(root - forward)
    root = root * (1 - 2 * flip)
    return root, W, Winv


class DMD(SpectralModelMixin, BaseEstimator):
    """Dynamic mode decomposition with the PyDMD options, for row-layout data.

    Parameters
    ----------
    rank : int, float, or None, default None
        Truncation of the SVD of ``X`` (see :mod:`koopkit.linalg`): ``int`` rank, energy
        fraction in (0, 1), ``None``/``0`` optimal hard threshold, ``-1`` full.
    method : {"exact", "projected"}, default "exact"
        Exact DMD modes (Tu et al. 2014) or projected modes (POD basis times eigenvectors).
    tlsq_rank : int, default 0
        If > 0, total-least-squares de-biasing: ``X`` and ``Y`` are projected onto the leading
        ``tlsq_rank`` right singular vectors (in time) of ``[X, Y]`` before the fit
        (Hemati, Rowley, Deem & Cattafesta 2017, Theor. Comput. Fluid Dyn. 31, Eq. 16).
    forward_backward : bool, default False
        Forward-backward DMD (Dawson et al. 2016): ``A = (A_f A_b^{-1})^{1/2}``, which removes
        the first-order noise bias of the eigenvalues.
    svd : {"auto", "svd", "gram", "randomized"}, default "auto"
        SVD path (see :func:`koopkit.linalg.truncated_svd`); one SVD of ``X`` per fit (plus one
        of ``[X, Y]`` when ``tlsq_rank > 0``).
    seed : int, default 0
        Seed of the randomized SVD.

    Attributes
    ----------
    eigenvalues_ : array of shape (r,), complex
        Discrete-time eigenvalues, ordered by modulus then phase, conjugate pairs together.
    modes_ : array of shape (n_features, r), complex
        DMD modes, one per column.
    amplitudes_ : array of shape (r,), complex
        Least-squares coefficients of the first snapshot (of the first trajectory) on the modes.
    operator_ : array of shape (r, r)
        Reduced operator in the POD basis, ``z_{k+1} = operator_ @ z_k`` with
        ``z = basis_.T @ x``.
    basis_ : array of shape (n_features, r)
        Orthonormal POD basis (leading right singular vectors of ``X``).
    singular_values_ : array of shape (r,)
        Kept singular values of ``X``.
    rank_ : int
        Kept rank ``r``.

    Notes
    -----
    Arrays in, same arrays out: numpy input gives numpy attributes; torch input is computed
    with ``torch.linalg`` on the input's device and gives torch attributes. float32 input is
    computed in float32/complex64, everything else in float64/complex128.

    Examples
    --------
    >>> import numpy as np
    >>> from koopkit import DMD
    >>> from koopkit.systems import LinearSystem
    >>> X = LinearSystem(np.array([[0.0, 1.0], [-1.0, 0.0]])).simulate([1.0, 0.0], 50, 0.1)
    >>> dmd = DMD(rank=2).fit(X)
    >>> np.allclose(np.abs(dmd.eigenvalues_), 1.0)
    True
    """

    def __init__(
        self,
        rank=None,
        method: str = "exact",
        tlsq_rank: int = 0,
        forward_backward: bool = False,
        svd: str = "auto",
        seed: int = 0,
    ):
        self.rank = rank
        self.method = method
        self.tlsq_rank = tlsq_rank
        self.forward_backward = forward_backward
        self.svd = svd
        self.seed = seed

    def _validate_params(self) -> None:
        if self.method not in ("exact", "projected"):
            raise ValueError(f"method must be 'exact' or 'projected', got {self.method!r}")
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        tl = self.tlsq_rank
        if isinstance(tl, bool) or not isinstance(tl, numbers.Integral) or tl < 0:
            raise ValueError(f"tlsq_rank must be a non-negative integer, got {tl!r}")

    def fit(self, X, Y=None) -> DMD:
        """Fit to trajectories or to snapshot pairs.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories, samples as rows; pairs are formed inside each trajectory only.
            With ``Y``: current states, shape (m, n).
        Y : array of shape (m, n), optional
            Successor states of the rows of ``X``.

        Returns
        -------
        self
        """
        self._validate_params()
        data = snapshot_pairs(X, Y)
        ops, Xp, Yp = data.ops, data.X, data.Y
        if self.tlsq_rank > 0:
            if self.tlsq_rank > min(Xp.shape[0], 2 * Xp.shape[1]):
                raise ValueError(
                    f"tlsq_rank={self.tlsq_rank} is larger than the data allows "
                    f"(min of {Xp.shape[0]} pairs and {2 * Xp.shape[1]} features)"
                )
            Ut = truncated_svd(
                ops.concat([Xp, Yp], axis=1),
                self.tlsq_rank,
                self.svd,
                seed=self.seed,
                check_finite=False,
            )[0]
            Xp, Yp = Ut @ (Ut.T @ Xp), Ut @ (Ut.T @ Yp)
        Ut, s, Vh = truncated_svd(Xp, self.rank, self.svd, seed=self.seed, check_finite=False)
        YUs = (Yp.T @ Ut) / s  # (n, r): Y^T U_t S^-1, shared by the operator and exact modes
        A_forward = Vh @ YUs
        if self.forward_backward:
            Zx, Zy = Ut * s, Yp @ Vh.T  # POD coordinates of X and Y, (m, r)
            A_backward = ops.lstsq(Zy, Zx).T
            eigenvalues, W, Winv = _principal_sqrt_near(
                ops, A_forward @ ops.solve(A_backward, ops.eye(A_backward.shape[0])), A_forward
            )
            operator = ops.real((W * eigenvalues) @ Winv)
        else:
            operator = A_forward
            eigenvalues, W = ops.eig(ops.ascomplex(operator))
        order = sort_eigenvalues(ops.to_numpy(eigenvalues))
        order = ops.from_numpy(order) if ops.name == "torch" else order
        eigenvalues, W = eigenvalues[order], W[:, order]
        if self.method == "exact":
            modes = ops.ascomplex(YUs) @ W
        else:
            modes = ops.ascomplex(Vh.T) @ W
        self._ops = ops
        self._fit_layout = (data.layout, data.lengths, data.first_states)
        self.rank_ = int(s.shape[0])
        self.singular_values_ = s
        self.basis_ = Vh.T
        self.operator_ = operator
        self.eigenvalues_ = eigenvalues
        self.modes_ = modes
        self.amplitudes_ = ops.lstsq(modes, ops.ascomplex(data.first_states[0]))
        self.n_features_in_ = int(Xp.shape[1])
        return self

    def _coefficients(self, x):
        return self._ops.lstsq(self.modes_, self._ops.ascomplex(x).T)

    def reconstruct(self):
        """Rebuild the training data with the fitted model.

        Each training trajectory is rolled out from its own first snapshot with
        :meth:`predict`. For pair data ``fit(X, Y)`` the result is the one-step prediction of
        ``Y`` from ``X``.

        Returns
        -------
        array or list of arrays
            Same layout as the ``X`` passed to :meth:`fit`: (T, n), (n_traj, T, n), a list of
            (T_i, n), or (m, n) for pairs.
        """
        self._check_is_fitted()
        layout, lengths, first = self._fit_layout
        if layout == "pairs":
            return self.predict(first, 1)[:, 1]
        if layout == "single":
            return self.predict(first[0], lengths[0] - 1)
        if layout == "batch":
            return self.predict(first, lengths[0] - 1)
        return [self.predict(first[i], n - 1) for i, n in enumerate(lengths)]

    def score(self, X, Y=None) -> float:
        """VAMP-2 score of the fitted model on (held-out) trajectories or pairs.

        DMD is the least-squares linear model of the POD coordinates ``z = basis_.T @ x``;
        with an invertible ``operator_`` its singular functions span those ``r`` coordinates
        on both sides, so the score is ``vamp2_score(X @ basis_, Y @ basis_)`` (Wu & Noé
        2020): how much of the next step the kept subspace predicts. Use it to compare ranks
        and data sets; see :mod:`koopkit.model_selection`.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories (or current states of pairs, with ``Y``).
        Y : array of shape (m, n), optional
            Successor states.

        Returns
        -------
        float
            Between 0 and ``rank_``; higher is better.
        """
        self._check_is_fitted()
        data = snapshot_pairs(X, Y)
        basis = data.ops.asarray(self.basis_)
        return vamp2_score(data.X @ basis, data.Y @ basis)
