"""Extended DMD (EDMD) and kernel EDMD.

Row convention throughout: with the lifted data ``Psi_X = psi(X)`` and ``Psi_Y = psi(Y)`` of
shape ``(m, p)``, EDMD solves ``Psi_Y ≈ Psi_X @ K`` in least squares (Williams, Kevrekidis &
Rowley 2015, J. Nonlinear Sci. 25, Eq. 13). A right eigenvector ``K xi = lambda xi`` gives the
eigenfunction ``phi(x) = psi(x) @ xi`` with ``phi(F(x)) ≈ lambda phi(x)``.
"""

from __future__ import annotations

import numbers

from koopkit._base import BaseEstimator, SpectralModelMixin, snapshot_pairs
from koopkit.dictionaries import Identity, _sq_distances
from koopkit.linalg import SVD_METHODS, truncated_svd
from koopkit.rrr import reduced_rank_edmd, reduced_rank_kernel, top_eigh
from koopkit.spectrum import sort_eigenvalues
from koopkit.vamp import _kernel_ridge_fit, _ridge_fit, vamp2_score

ESTIMATORS = ("pcr", "rrr")

__all__ = ["EDMD", "KernelEDMD"]


class _LiftedModel(SpectralModelMixin, BaseEstimator):
    """Eigen-decomposition of a reduced operator and the eigenfunction / mode bookkeeping."""

    def _finish_fit(self, ops, data, reduced, lift):
        """Set eigenvalues, eigenfunction coefficients and modes.

        ``reduced`` is the (r, r) operator; ``lift`` maps its eigenvectors to coefficients of
        the eigenfunctions in the model's features, ``phi(x) = features(x) @ (lift @ eta)``.
        """
        eigenvalues, eta = ops.eig(ops.ascomplex(reduced))
        order = sort_eigenvalues(ops.to_numpy(eigenvalues))
        order = ops.from_numpy(order) if ops.name == "torch" else order
        self._ops = ops
        self.eigenvalues_ = eigenvalues[order]
        self._eigvecs = ops.ascomplex(lift) @ eta[:, order]
        phi_x = self._eigenfunctions(data.X)
        # Modes map eigenfunction values back to the state: x ≈ modes_ @ phi(x).
        self.modes_ = ops.lstsq(phi_x, ops.ascomplex(data.X)).T
        self.amplitudes_ = self._eigenfunctions(data.first_states[:1])[0]
        self.n_features_in_ = int(data.X.shape[1])

    def eigenfunctions(self, X):
        """Koopman eigenfunctions evaluated at states ``X``.

        Parameters
        ----------
        X : array of shape (m, n_features)

        Returns
        -------
        array of shape (m, r), complex
            Column ``j`` holds ``phi_j(X)``, with ``phi_j(F(x)) ≈ eigenvalues_[j] phi_j(x)``.
        """
        self._check_is_fitted()
        X = self._ops.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (m, {self.n_features_in_}), got {tuple(X.shape)}")
        return self._eigenfunctions(X)

    def _coefficients(self, x):
        return self._eigenfunctions(x).T


class EDMD(_LiftedModel):
    """Extended dynamic mode decomposition with Tikhonov regularization and optional rank.

    Parameters
    ----------
    dictionary : Dictionary, default Identity()
        Observables ``psi`` (see :mod:`koopkit.dictionaries`); fitted on ``X`` inside ``fit``.
    rank : int, float, or None, default None
        Truncation of the SVD of ``Psi_X`` (rules of :mod:`koopkit.linalg`). ``None`` means
        no truncation here (all ``min(m, p)`` directions), unlike DMD where it selects the
        optimal hard threshold: dictionaries are small and chosen on purpose.
    regularization : float, default 0.0
        Tikhonov parameter ``alpha``: ``K = (G + alpha I)^{-1} A`` with ``G = Psi_X^T Psi_X / m``
        and ``A = Psi_X^T Psi_Y / m`` (Williams et al. 2015, Eq. 15, with a ridge).
    svd : {"svd", "auto", "gram", "randomized"}, default "svd"
        SVD path for ``Psi_X``. The thin SVD is the default because dictionaries of monomials
        are often ill-conditioned and the Gram path cannot resolve singular values below
        about ``1e-7 s_max``; for a tall ``Psi_X`` the other paths only save a constant factor.
    estimator : {"pcr", "rrr"}, default "pcr"
        ``"pcr"``: principal-component regression, the rank truncates the SVD of ``Psi_X``
        (the directions where the lifted states vary most). ``"rrr"``: reduced-rank regression
        (Kostic et al. 2022, see :mod:`koopkit.rrr`), the rank-``r`` operator with the least
        regularized prediction risk; ``rank`` is then the rank of ``K`` (``None``: full rank,
        the ridge estimator, equal to ``"pcr"`` without truncation).

    Attributes
    ----------
    koopman_matrix_ : array of shape (p, p)
        ``K`` with ``Psi_Y ≈ Psi_X @ K`` (row convention).
    eigenvalues_ : array of shape (r,), complex
        Discrete-time eigenvalues, ordered by modulus then phase, conjugate pairs together.
    modes_ : array of shape (n_features, r), complex
        Koopman modes: ``x ≈ Re(modes_ @ phi(x))``. Computed as ``(Xi^{-1} B)^T`` from the
        dictionary's ``state_matrix_`` ``B`` when it has one and ``r = p``; otherwise by least
        squares of the training states on the eigenfunctions.
    amplitudes_ : array of shape (r,), complex
        Eigenfunction values at the first training state.
    dictionary_ : Dictionary
        The fitted dictionary.
    """

    def __init__(
        self,
        dictionary=None,
        rank=None,
        regularization: float = 0.0,
        svd: str = "svd",
        estimator: str = "pcr",
    ):
        self.dictionary = dictionary
        self.rank = rank
        self.regularization = regularization
        self.svd = svd
        self.estimator = estimator

    def fit(self, X, Y=None) -> EDMD:
        """Fit to trajectories (same layouts as :meth:`koopkit.DMD.fit`) or pairs ``(X, Y)``.

        Returns
        -------
        self
        """
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        if not (isinstance(self.regularization, numbers.Real) and self.regularization >= 0):
            raise ValueError(f"regularization must be >= 0, got {self.regularization!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        data = snapshot_pairs(X, Y)
        ops = data.ops
        dictionary = Identity() if self.dictionary is None else self.dictionary
        self.dictionary_ = dictionary.fit(data.X)
        psi_x = ops.asarray(dictionary.transform(data.X))
        psi_y = ops.asarray(dictionary.transform(data.Y))
        if self.estimator == "rrr":
            K, reduced, lift, scores_out = reduced_rank_edmd(
                ops, psi_x, psi_y, self.rank, self.regularization, self.svd
            )
            self.koopman_matrix_ = K
            self.rank_ = int(reduced.shape[0])
            self._finish_fit(ops, data, reduced, lift)
            self._vamp_factors = (lift, scores_out, data.Y)
        else:
            rank = -1 if self.rank is None else self.rank
            U, s, Vh = truncated_svd(psi_x, rank, self.svd)
            m = psi_x.shape[0]
            s_inv = s / (s**2 + m * self.regularization)
            projected = (U.T @ psi_y) * s_inv[:, None]  # (r, p): S^-1 U^T Psi_Y
            self.koopman_matrix_ = Vh.T @ projected
            self.rank_ = int(s.shape[0])
            # Nonzero eigenpairs of K live in span(Vh^T): K Vh^T eta = Vh^T (projected Vh^T) eta.
            self._finish_fit(ops, data, projected @ Vh.T, Vh.T)
            # The model reads psi(Y) through U^T Psi_Y and answers in span(Vh^T).
            self._vamp_factors = (Vh.T, U, data.Y)
        B = dictionary.state_matrix_
        if B is not None and self.rank_ == dictionary.n_output_features_:
            xi = self._eigvecs
            self.modes_ = ops.solve(xi, ops.ascomplex(ops.asarray(B))).T
        return self

    def _eigenfunctions(self, X):
        psi = self._ops.asarray(self.dictionary_.transform(X))
        return self._ops.ascomplex(psi) @ self._eigvecs

    def score(self, X, Y=None) -> float:
        """VAMP-2 score of the fitted model on (held-out) trajectories or pairs.

        The model's input singular functions ``psi(x) @ W_in`` span the range of
        ``koopman_matrix_``; its output singular functions ``psi(y) @ W_out`` are the
        (ridge, same ``regularization``) regression on the training ``psi(Y)`` of the sample
        values through which the model reads ``psi(Y)``, i.e. ``C_YY^{-1}`` times the row space
        of ``koopman_matrix_`` (Wu & Noé 2020, Sec. 3.3). See :mod:`koopkit.model_selection`.

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
        ops = self._ops
        W_in, scores_out, Y_train = self._vamp_factors
        psi = self.dictionary_.transform
        W_out = _ridge_fit(ops, ops.asarray(psi(Y_train)), scores_out, self.regularization)
        F = ops.asarray(psi(ops.asarray(data.X))) @ W_in
        G = ops.asarray(psi(ops.asarray(data.Y))) @ W_out
        return vamp2_score(F, G)


def _kernel(ops, kernel, gamma, degree, coef0, X, Z):
    if kernel == "rbf":
        return ops.exp(-gamma * ops.clip_min(_sq_distances(X, Z), 0.0))
    return (gamma * (X @ Z.T) + coef0) ** degree


class KernelEDMD(_LiftedModel):
    """Kernel EDMD: EDMD in the feature space of a kernel, through Gram matrices only.

    With ``G_ij = k(x_i, x_j)`` and ``A_ij = k(y_i, x_j)`` (both (m, m)) and the truncated
    eigen-decomposition ``G = Q Sigma^2 Q^T``, the reduced operator is
    ``K_hat = Sigma^{-1} Q^T A Q Sigma^{-1}`` and ``phi(x) = k(x, X) Q Sigma^{-1} eta`` for
    ``K_hat eta = lambda eta`` (Williams, Rowley & Kevrekidis 2015, J. Comput. Dyn. 2(2),
    Eqs. 10-13, in row convention).

    Parameters
    ----------
    kernel : {"rbf", "polynomial"}, default "rbf"
        ``exp(-gamma |x - z|^2)`` or ``(gamma x.z + coef0)^degree``.
    gamma : float, default 1.0
        Kernel scale.
    degree : int, default 2
        Degree of the polynomial kernel.
    coef0 : float, default 1.0
        Constant of the polynomial kernel.
    rank : int or None, default None
        Rank of the estimator: with ``"pcr"`` the number of leading Gram eigen-directions
        kept, with ``"rrr"`` the rank of the reduced-rank operator. ``None`` keeps the
        directions with ``sigma > 1e-7 sigma_max`` (the numerically resolvable ones).
    regularization : float, default 0.0
        Tikhonov ``gamma`` on the normalized Gram matrix: ``Sigma^2`` becomes
        ``Sigma^2 + m gamma`` (kernel ridge regression; kooplearn's ``alpha``).
    estimator : {"pcr", "rrr"}, default "pcr"
        Principal-component regression (the formulas above) or kernel reduced-rank
        regression (Kostic et al. 2022, :func:`koopkit.rrr.reduced_rank_kernel`), which also
        needs ``k(Y, Y)``. At full rank both are the kernel ridge estimator.

    Attributes
    ----------
    eigenvalues_ : array of shape (r,), complex
        Discrete-time eigenvalues, ordered by modulus then phase.
    modes_ : array of shape (n_features, r), complex
        Least-squares Koopman modes on the training states: ``x ≈ Re(modes_ @ phi(x))``.
    X_fit_ : array of shape (m, n_features)
        Training states (needed to evaluate eigenfunctions at new points).
    """

    def __init__(
        self,
        kernel: str = "rbf",
        gamma: float = 1.0,
        degree: int = 2,
        coef0: float = 1.0,
        rank: int | None = None,
        regularization: float = 0.0,
        estimator: str = "pcr",
    ):
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.rank = rank
        self.regularization = regularization
        self.estimator = estimator

    def fit(self, X, Y=None) -> KernelEDMD:
        """Fit to trajectories (same layouts as :meth:`koopkit.DMD.fit`) or pairs ``(X, Y)``.

        Returns
        -------
        self
        """
        if self.kernel not in ("rbf", "polynomial"):
            raise ValueError(f"kernel must be 'rbf' or 'polynomial', got {self.kernel!r}")
        if not self.gamma > 0:
            raise ValueError(f"gamma must be positive, got {self.gamma!r}")
        reg = self.regularization
        if isinstance(reg, bool) or not (isinstance(reg, numbers.Real) and reg >= 0):
            raise ValueError(f"regularization must be a number >= 0, got {reg!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        data = snapshot_pairs(X, Y)
        ops = data.ops
        m = data.X.shape[0]
        if self.rank is not None and (
            isinstance(self.rank, bool)
            or not isinstance(self.rank, numbers.Integral)
            or not 1 <= self.rank <= m
        ):
            raise ValueError(
                f"rank must be None or an integer in [1, {m}] (the number of pairs), "
                f"got {self.rank!r}"
            )
        G = self._k(ops, data.X, data.X)
        A = self._k(ops, data.Y, data.X)
        self.X_fit_ = data.X
        if self.estimator == "rrr":
            K_Y = self._k(ops, data.Y, data.Y)
            reduced, lift, out_coef = reduced_rank_kernel(ops, G, K_Y, A, self.rank, reg)
            self.rank_ = int(reduced.shape[0])
            self._finish_fit(ops, data, reduced, lift)
            self._vamp_factors = (lift, out_coef, data.Y)
            return self
        evals, Q = top_eigh(ops, G, self.rank)
        sigma = ops.sqrt_nonneg(evals)
        r = int((sigma > 1e-7 * sigma[0]).sum()) if self.rank is None else int(self.rank)
        r = max(r, 1)
        Q_sigma_inv = Q[:, :r] / ops.sqrt_nonneg(evals[:r] + m * reg)
        self.rank_ = r
        self._finish_fit(ops, data, Q_sigma_inv.T @ A @ Q_sigma_inv, Q_sigma_inv)
        # The operator is Phi_X^T Q (Sigma^2 + m gamma)^-1 Q^T Phi_Y: it reads Q^T k(Y, .).
        self._vamp_factors = (Q[:, :r], Q[:, :r], data.Y)
        return self

    def _k(self, ops, X, Z):
        return _kernel(ops, self.kernel, self.gamma, self.degree, self.coef0, X, Z)

    def _eigenfunctions(self, X):
        ops = self._ops
        return ops.ascomplex(self._k(ops, ops.asarray(X), self.X_fit_)) @ self._eigvecs

    def score(self, X, Y=None) -> float:
        """VAMP-2 score of the fitted model on (held-out) trajectories or pairs.

        For the operator ``Phi_X^T W_in W_out^T Phi_Y`` the input singular functions are
        ``k(x, X) W_in`` and the output ones ``k(y, Y) (K_Y + m gamma I)^{-1} W_out`` (the
        covariance of the outputs inverted in the RKHS; its pseudo-inverse when
        ``regularization = 0``), Wu & Noé 2020, Sec. 3.3. See :mod:`koopkit.model_selection`.

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
        ops = self._ops
        W_in, W_out, Y_train = self._vamp_factors
        K_Y = self._k(ops, Y_train, Y_train)
        W_out = _kernel_ridge_fit(ops, K_Y, W_out, self.regularization)
        F = self._k(ops, ops.asarray(data.X), self.X_fit_) @ W_in
        G = self._k(ops, ops.asarray(data.Y), Y_train) @ W_out
        return vamp2_score(F, G)
