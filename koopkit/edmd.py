"""Extended DMD (EDMD) and kernel EDMD.

Row convention throughout: with the lifted data ``Psi_X = psi(X)`` and ``Psi_Y = psi(Y)`` of
shape ``(m, p)``, EDMD solves ``Psi_Y ≈ Psi_X @ K`` in least squares (Williams, Kevrekidis &
Rowley 2015, J. Nonlinear Sci. 25, Eq. 13). A right eigenvector ``K xi = lambda xi`` gives the
eigenfunction ``phi(x) = psi(x) @ xi`` with ``phi(F(x)) ≈ lambda phi(x)``.
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np
from sklearn.base import clone

from koopkit._base import (
    BaseEstimator,
    SpectralModelMixin,
    check_finite_result,
    eig_checked,
    snapshot_pairs,
)
from koopkit.dictionaries import Identity, _sq_distances, as_dictionary
from koopkit.linalg import SVD_METHODS, NumericalRankWarning, truncated_svd
from koopkit.rrr import reduced_rank_edmd, reduced_rank_kernel, top_eigh
from koopkit.spectrum import sort_eigenvalues
from koopkit.vamp import _kernel_ridge_fit, _ridge_fit, vamp2_score

ESTIMATORS = ("pcr", "rrr")

__all__ = ["EDMD", "KernelEDMD"]


class _LiftedModel(SpectralModelMixin, BaseEstimator):
    """A linear model in ``r`` reduced coordinates of lifted features, and its spectrum.

    Subclasses define ``_features(X)`` (dictionary or kernel columns, shape (m, p)) and call
    :meth:`_finish_fit`. The model: ``z = features(x) @ lift`` (r coordinates), one step
    ``z -> z @ reduced``, state read-out ``x ≈ z @ readout``.
    """

    def _finish_fit(self, ops, data, reduced, lift, readout):
        """Set eigenvalues, eigenfunction coefficients, modes and amplitudes.

        ``reduced`` (r, r), ``lift`` (p, r) and ``readout`` (r, n) define the model (see the
        class docstring). An eigenvector ``reduced @ eta = lambda eta`` gives the eigenfunction
        ``phi(x) = features(x) @ (lift @ eta)``, and ``x ≈ phi(x) @ eta^{-1} @ readout`` gives
        the modes.
        """
        eigenvalues, eta = eig_checked(ops, reduced)
        order = sort_eigenvalues(ops.to_numpy(eigenvalues))
        order = ops.from_numpy(order) if ops.name == "torch" else order
        eta = eta[:, order]
        self._ops = ops
        self._reduced, self._lift, self._readout = reduced, lift, readout
        self.eigenvalues_ = eigenvalues[order]
        self._eigvecs = ops.ascomplex(lift) @ eta
        self.n_features_in_ = int(data.X.shape[1])
        # modes_^T = eta^{-1} readout: a small system, in least squares for a defective eta.
        self.modes_ = ops.lstsq(eta, ops.ascomplex(readout)).T
        self.amplitudes_ = self._eigenfunctions(data.first_states[:1])[0]
        check_finite_result(ops, "model", self.eigenvalues_, self.modes_, self.amplitudes_)

    def _eigenfunctions(self, X):
        return self._ops.ascomplex(self._features(X)) @ self._eigvecs

    def _rollout(self, x, n_steps: int):
        # z_k = z_0 reduced^k, x_k = z_k readout: the modal sum of the same model, evaluated
        # without the eigenvectors, whose inverse loses digits when they are near-parallel.
        ops = self._ops
        z = self._features(x) @ self._lift
        readout = self._readout  # reduced^k readout, (r, n)
        states = [(z @ readout)[:, None]]
        for _ in range(n_steps):
            readout = self._reduced @ readout
            states.append((z @ readout)[:, None])
        return ops.concat(states, axis=1)

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
        n = self.n_features_in_
        if X.ndim != 2 or X.shape[1] != n:
            detail = (
                f": X has {X.shape[1]} features, but {type(self).__name__} is expecting {n} "
                "features as input"
                if X.ndim == 2
                else "; Reshape your data: X.reshape(1, -1) for a single state"
            )
            raise ValueError(f"X must have shape (m, {n}), got {tuple(X.shape)}" + detail)
        return self._eigenfunctions(X)


class EDMD(_LiftedModel):
    """Extended dynamic mode decomposition with Tikhonov regularization and optional rank.

    Parameters
    ----------
    dictionary : Dictionary or scikit-learn transformer, default Identity()
        Observables ``psi`` (see :mod:`koopkit.dictionaries`). Any scikit-learn transformer
        (``PolynomialFeatures``, ``Nystroem``, a ``Pipeline``...) is accepted and wrapped in
        :class:`~koopkit.dictionaries.SklearnTransformer`. A clone is fitted on ``X`` inside
        ``fit`` (``dictionary_``); the parameter itself is left untouched.
    rank : int, float, or None, default None
        Truncation of the SVD of ``Psi_X`` (rules of :mod:`koopkit.linalg`). ``None`` means
        no truncation here (all numerically nonzero directions), unlike DMD where it selects
        the optimal hard threshold: dictionaries are small and chosen on purpose. An integer
        rank above the numerical rank of ``Psi_X`` is lowered to it with a
        :class:`~koopkit.linalg.NumericalRankWarning`.
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
        Koopman modes: ``x ≈ Re(modes_ @ phi(x))``, the least-squares fit of the training
        states on the eigenfunctions. With the dictionary's ``state_matrix_`` ``B``
        (``x = psi(x) B``) they follow from ``B`` without the data (Williams et al. 2015,
        Sec. 2.3): ``(Xi^{-1} B)^T`` at full rank.
    amplitudes_ : array of shape (r,), complex
        Eigenfunction values at the first training state.
    dictionary_ : Dictionary
        The fitted dictionary.

    Notes
    -----
    Complex data are accepted when the dictionary supports them (``Identity``, ``Polynomial``
    and ``Concat`` of those); other dictionaries refuse them with a ``ValueError``. Torch
    tensors are detached: no gradient flows through the fit.

    :meth:`predict` evaluates the modal sum ``Re(modes_ @ (eigenvalues_**k * phi(x0)))`` in
    the ``r`` coordinates ``z = psi(x) V`` (``V`` the kept right singular vectors of
    ``Psi_X``) as ``z_0 R^k C``, with the reduced operator ``R`` and the read-out ``C``: the
    same numbers without inverting the eigenvector matrix, which loses digits for a
    near-defective operator. At full rank with ``B`` this is ``psi(x0) K^k B``.
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

    # Overflow inside the fit is not an error by itself: every fitted quantity is checked and
    # a clear ValueError names the problem.
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def fit(self, X, Y=None) -> EDMD:
        """Fit to trajectories (same layouts as :meth:`koopkit.DMD.fit`) or pairs ``(X, Y)``.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories, samples as rows (or current states with ``Y``). Torch tensors are
            detached: no gradient flows through the fit.
        Y : array of shape (m, n), optional
            Successor states of the rows of ``X``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN/Inf, complex data with a dictionary that cannot take it, features that
            overflow, zero data, or a rank above ``min(m, p)``.

        Warns
        -----
        koopkit.linalg.NumericalRankWarning
            When an explicit integer rank exceeds the numerical rank of ``Psi_X``.
        """
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        if not (isinstance(self.regularization, numbers.Real) and self.regularization >= 0):
            raise ValueError(f"regularization must be >= 0, got {self.regularization!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        dictionary = Identity() if self.dictionary is None else as_dictionary(self.dictionary)
        data = snapshot_pairs(
            X,
            Y,
            # reduced-rank regression (koopkit.rrr) is written for real features
            allow_complex=dictionary._supports_complex and self.estimator == "pcr",
            owner=f"EDMD(estimator={self.estimator!r}) with the {type(dictionary).__name__} "
            "dictionary",
        )
        ops = data.ops
        self.dictionary_ = clone(dictionary).fit(data.X)
        psi_x = ops.asarray(self.dictionary_.transform(data.X))
        psi_y = ops.asarray(self.dictionary_.transform(data.Y))
        if not (ops.all_finite(psi_x) and ops.all_finite(psi_y)):
            raise ValueError(
                f"the {type(dictionary).__name__} dictionary gives NaN or Inf features on "
                "these data (overflow at this scale?); rescale X or choose another dictionary"
            )
        if self.estimator == "rrr":
            K, reduced, lift, scores_out = reduced_rank_edmd(
                ops, psi_x, psi_y, self.rank, self.regularization, self.svd
            )
            self.koopman_matrix_ = K
            self.rank_ = int(reduced.shape[0])
            # K = lift Vr^T: z = psi lift steps by Vr^T lift = reduced.
            self._finish_fit(ops, data, reduced, lift, ops.lstsq(psi_x @ lift, data.X))
            self._vamp_factors = (lift, scores_out, data.Y)
            return self
        rank = -1 if self.rank is None else self.rank
        U, s, Vh = truncated_svd(psi_x, rank, self.svd, check_finite=False)
        m = psi_x.shape[0]
        # S^-1 regularized as s / (s^2 + m alpha), written so that s^2 never overflows.
        s_inv = 1 / (s + (m * self.regularization) / s)
        projected = (U.conj().T @ psi_y) * s_inv[:, None]  # (r, p): S^-1 U^H Psi_Y
        V = Vh.conj().T
        self.koopman_matrix_ = V @ projected
        self.rank_ = int(s.shape[0])
        # K = V projected: z = psi V steps by projected V. The state is read out by least
        # squares on z(X) = U S, which is V^H B exactly when x = psi(x) B (Williams et al.
        # 2015, Sec. 2.3).
        B = self.dictionary_.state_matrix_
        if B is None:
            readout = (U.conj().T @ data.X) / s[:, None]
        else:
            readout = V.conj().T @ ops.asarray(B)
        self._finish_fit(ops, data, projected @ V, V, readout)
        # The model reads psi(Y) through U^H Psi_Y and answers in span(V).
        self._vamp_factors = (V, U, data.Y)
        return self

    def _features(self, X):
        return self._ops.asarray(self.dictionary_.transform(X))

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
        numerically resolvable directions, ``sigma^2 > m eps sigma_max^2``; with ``"pcr"`` an
        integer above that numerical rank is lowered to it with a
        :class:`~koopkit.linalg.NumericalRankWarning`.
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

    Notes
    -----
    Real data only (complex input raises a ``ValueError``; stack the real and imaginary parts
    as features instead). Torch tensors are detached: no gradient flows through the fit.
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

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def fit(self, X, Y=None) -> KernelEDMD:
        """Fit to trajectories (same layouts as :meth:`koopkit.DMD.fit`) or pairs ``(X, Y)``.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Real trajectories, samples as rows (or current states with ``Y``). Torch tensors
            are detached: no gradient flows through the fit.
        Y : array of shape (m, n), optional
            Successor states of the rows of ``X``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN/Inf, complex data, a kernel that overflows, or a zero kernel matrix.

        Warns
        -----
        koopkit.linalg.NumericalRankWarning
            When ``rank`` exceeds the numerical rank of the kernel matrix.
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
        data = snapshot_pairs(X, Y, allow_complex=False, owner="KernelEDMD")
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
        if not (ops.all_finite(G) and ops.all_finite(A)):
            raise ValueError(
                f"the {self.kernel} kernel overflows on these data (values beyond "
                f"{ops.real_dtype}); rescale X or lower gamma"
            )
        self.X_fit_ = data.X
        if self.estimator == "rrr":
            K_Y = self._k(ops, data.Y, data.Y)
            reduced, lift, out_coef = reduced_rank_kernel(ops, G, K_Y, A, self.rank, reg)
            self.rank_ = int(reduced.shape[0])
            self._finish_fit(ops, data, reduced, lift, ops.lstsq(G @ lift, data.X))
            self._vamp_factors = (lift, out_coef, data.Y)
            return self
        evals, Q = top_eigh(ops, G, self.rank)
        top = float(ops.to_numpy(evals[0]))
        if not top > 0:
            raise ValueError("the kernel matrix of X is zero: there is nothing to fit")
        resolved = int((evals > top * (m * ops.eps)).sum())
        r = resolved if self.rank is None else int(self.rank)
        if r > resolved:
            warnings.warn(
                f"rank={r} exceeds the numerical rank {resolved} of the kernel matrix; using "
                f"rank {resolved} (directions beyond it are round-off and would give spurious "
                "eigenvalues)",
                NumericalRankWarning,
                stacklevel=2,
            )
            r = resolved
        Q_sigma_inv = Q[:, :r] / ops.sqrt_nonneg(evals[:r] + m * reg)
        self.rank_ = r
        readout = ops.lstsq(G @ Q_sigma_inv, data.X)
        self._finish_fit(ops, data, Q_sigma_inv.T @ A @ Q_sigma_inv, Q_sigma_inv, readout)
        # The operator is Phi_X^T Q (Sigma^2 + m gamma)^-1 Q^T Phi_Y: it reads Q^T k(Y, .).
        self._vamp_factors = (Q[:, :r], Q[:, :r], data.Y)
        return self

    def _k(self, ops, X, Z):
        return _kernel(ops, self.kernel, self.gamma, self.degree, self.coef0, X, Z)

    def _features(self, X):
        ops = self._ops
        return self._k(ops, ops.asarray(X), self.X_fit_)

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
        # the output factor's ridge solve, once per fit: the cache is tied to the fit's factors
        cached = getattr(self, "_vamp_out", None)
        if cached is None or cached[0] is not self._vamp_factors:
            K_Y = self._k(ops, Y_train, Y_train)
            solved = _kernel_ridge_fit(ops, K_Y, W_out, self.regularization)
            self._vamp_out = cached = (self._vamp_factors, solved)
        W_out = cached[1]
        F = self._k(ops, ops.asarray(data.X), self.X_fit_) @ W_in
        G = self._k(ops, ops.asarray(data.Y), Y_train) @ W_out
        return vamp2_score(F, G)
