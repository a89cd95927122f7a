"""Koopman models with control inputs: DMD with control (DMDc) and EDMD with control (EDMDc).

Samples are rows. A trajectory of states ``X`` of shape ``(T, n)`` comes with the inputs ``U``
of shape ``(T - 1, q)`` that drove it: ``U[k]`` acts between ``X[k]`` and ``X[k + 1]``. Several
trajectories are ``(n_traj, T, n)`` with inputs ``(n_traj, T - 1, q)``, or lists of
``(T_i, n)`` and ``(T_i - 1, q)``; snapshot pairs never cross trajectories.

Both estimators fit a linear model with the inputs entering linearly,

``z_{k+1} = A_ @ z_k + B_ @ u_k``    (column convention of control theory),

where ``z`` is the state itself (or its coordinates in a POD basis) for DMDc (Proctor, Brunton &
Kutz 2016, SIAM J. Appl. Dyn. Syst. 15(1), Sec. 3.3) and a dictionary of observables
``z = psi(x)`` for EDMDc (Korda & Mezić 2018, Automatica 93, Eq. 22). The conditional model of
the Koopman Distillation Model, ``K z + B y`` with the class label ``y`` as the input, is of the
same kind (see the KDM guide); the names ``A_``, ``B_`` and "control" are shared.
"""

from __future__ import annotations

import numbers

import numpy as np

from koopkit._base import (
    BaseEstimator,
    SpectralModelMixin,
    _check_block,
    _convert_like,
    snapshot_pairs,
)
from koopkit.dictionaries import Identity
from koopkit.linalg import SVD_METHODS, truncated_svd
from koopkit.spectrum import sort_eigenvalues

__all__ = ["DMDc", "EDMDc"]


def control_pairs(X, U) -> tuple:
    """Snapshot pairs and the inputs between them, never crossing trajectories.

    Parameters
    ----------
    X : array of shape (T, n), (n_traj, T, n), or list of arrays of shape (T_i, n)
        State trajectories, samples as rows.
    U : array of shape (T - 1, q), (n_traj, T - 1, q), or list of arrays of shape (T_i - 1, q)
        Inputs, one row per transition, in the layout of ``X``; a 1-D ``(T - 1,)`` array (or
        list of them) is a single input, ``q = 1``.

    Returns
    -------
    data : PairData
        Pairs ``X``, ``Y`` of shape (m, n) (see :func:`koopkit._base.snapshot_pairs`).
    Up : array of shape (m, q)
        The input of every pair, in the backend of ``X``.
    """
    data = snapshot_pairs(X)
    ops = data.ops
    n_traj = len(data.lengths)
    if data.layout == "list":
        if not isinstance(U, (list, tuple)) or len(U) != n_traj:
            raise ValueError(
                f"X is a list of {n_traj} trajectories: U must be a list of {n_traj} input "
                "arrays of shape (T_i - 1, q)"
            )
        blocks = [ops.asarray(u) for u in U]
    else:
        if isinstance(U, (list, tuple)):
            U = np.asarray(U)
        U = ops.asarray(U)
        if data.layout == "single":
            blocks = [U]
        else:
            if U.ndim not in (2, 3) or U.shape[0] != n_traj:
                raise ValueError(
                    f"X has shape {(n_traj, data.lengths[0], data.X.shape[1])}: U must have "
                    f"shape ({n_traj}, {data.lengths[0] - 1}, q), got {tuple(U.shape)}"
                )
            blocks = list(U)
    out = []
    for i, (u, T) in enumerate(zip(blocks, data.lengths, strict=True)):
        u = u[:, None] if u.ndim == 1 else u
        _check_block(ops, u, "U" if n_traj == 1 else f"U[{i}]", (2,))
        if u.shape[0] != T - 1:
            raise ValueError(
                f"U{'' if n_traj == 1 else f'[{i}]'} must have T - 1 = {T - 1} rows (one input "
                f"per transition of a trajectory of {T} snapshots), got {u.shape[0]}"
            )
        out.append(u)
    if len({u.shape[1] for u in out}) != 1:
        raise ValueError("all input arrays must have the same number of inputs q (columns)")
    Up = out[0] if len(out) == 1 else ops.concat(out)
    return data, Up


def _check_rank_none_full(rank, name: str):
    """``None`` means no truncation here (the rank rules of :mod:`koopkit.linalg` otherwise)."""
    if isinstance(rank, bool):
        raise ValueError(f"{name} must be an int, a float in (0, 1), None or -1; got {rank!r}")
    return -1 if rank is None else rank


def _numerical_rank(ops, s, shape) -> int:
    """Singular values above ``max(shape) * eps * s_max``, the cutoff of ``numpy.linalg.pinv``."""
    tol = float(s[0]) * max(shape) * ops.eps
    return max(1, int((s > tol).sum()))


def _sorted_eig(ops, M):
    eigenvalues, W = ops.eig(ops.ascomplex(M))
    order = sort_eigenvalues(ops.to_numpy(eigenvalues))
    order = ops.from_numpy(order) if ops.name == "torch" else order
    return eigenvalues[order], W[:, order]


class _ControlModel(SpectralModelMixin, BaseEstimator):
    """Rollout of ``z_{k+1} = A_ z_k + B_ u_k`` and input checks shared by DMDc and EDMDc."""

    def _check_params(self) -> None:
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")

    def _check_predict_input(self, x0, U):
        self._check_is_fitted()
        ops = self._ops
        x = ops.asarray(x0)
        single = x.ndim == 1
        x = x[None, :] if single else x
        n = self.n_features_in_
        if x.ndim != 2 or x.shape[1] != n:
            raise ValueError(f"x0 must have shape ({n},) or (batch, {n}), got {tuple(x.shape)}")
        u = ops.asarray(U)
        q = self.n_inputs_
        if single and u.ndim == 1 and q == 1:
            u = u[:, None]
        if single:
            u = u[None]
        expected = f"(n_steps, {q})" if single else f"({x.shape[0]}, n_steps, {q})"
        if u.ndim != 3 or u.shape[0] != x.shape[0] or u.shape[2] != q:
            raise ValueError(f"U must have shape {expected}, got {tuple(ops.asarray(U).shape)}")
        if not (ops.all_finite(x) and ops.all_finite(u)):
            raise ValueError("x0 and U must be finite (no NaN or Inf)")
        return ops, x, u, single

    def _rollout(self, ops, z, u):
        """States ``z_k`` for ``k = 0 .. n_steps``: shape (batch, n_steps + 1, r)."""
        A, B = ops.asarray(self.A_), ops.asarray(self.B_)
        out = [z]
        for k in range(u.shape[1]):
            z = z @ A.T + u[:, k] @ B.T
            out.append(z)
        return ops.concat([s[:, None] for s in out], axis=1)


class DMDc(_ControlModel):
    """Dynamic mode decomposition with control (Proctor, Brunton & Kutz 2016).

    Fits ``x_{k+1} ≈ A x_k + B u_k`` by least squares on ``[X, U]`` (Eq. 3.7 of the paper) and,
    when the state is truncated, projects it on the leading POD modes of the successors
    (Sec. 3.3, "unknown B"): ``A_ = basis_.T @ A @ basis_`` and ``B_ = basis_.T @ B``, without
    ever forming the ``(n, n)`` matrix ``A``.

    Parameters
    ----------
    rank : int, float, or None, default None
        Truncation of the state: rank rule (see :mod:`koopkit.linalg`) applied to the SVD of
        the successor states ``Y``. ``None`` keeps the full state space when there are at least
        as many pairs as features (else all ``m`` directions of ``Y``); whenever the kept rank
        equals ``n_features``, ``basis_`` is the identity and ``A_``, ``B_`` are the
        state-space matrices. ``0`` selects the optimal hard threshold.
    rank_omega : int, float, or None, default None
        Truncation of the SVD of the stacked data ``Omega = [X, U]`` (shape (m, n + q)).
        ``None`` keeps its numerically nonzero singular values (the ``pinv`` cutoff).
    svd : {"auto", "svd", "gram", "randomized"}, default "auto"
        SVD path (see :func:`koopkit.linalg.truncated_svd`).

    Attributes
    ----------
    A_ : array of shape (r, r)
        State matrix in the coordinates ``z = basis_.T @ x``.
    B_ : array of shape (r, q)
        Input matrix in the same coordinates.
    basis_ : array of shape (n_features, r)
        Orthonormal basis of the kept state space (the identity when the state is not
        truncated, ``r = n_features``).
    eigenvalues_ : array of shape (r,), complex
        Discrete-time eigenvalues of ``A_`` (the unforced dynamics), ordered by modulus then
        phase, conjugate pairs together.
    modes_ : array of shape (n_features, r), complex
        Eigenvectors of ``A_`` in the state space: the eigenvectors themselves without
        truncation, the exact DMDc modes ``Y.T @ Omega^+ [I; 0] @ basis_ @ W`` (Eq. 3.16)
        with it.
    rank_ : int
        Kept state rank ``r``.
    rank_omega_ : int
        Kept rank of ``Omega``.
    n_inputs_ : int
        Number of inputs ``q``.

    Examples
    --------
    >>> import numpy as np
    >>> from koopkit import DMDc
    >>> A, B = np.array([[0.9, 0.2], [0.0, 0.8]]), np.array([[0.0], [1.0]])
    >>> U = np.random.default_rng(0).normal(size=(30, 1))
    >>> X = [np.ones(2)]
    >>> for u in U:
    ...     X.append(A @ X[-1] + B @ u)
    >>> model = DMDc().fit(np.array(X), U)
    >>> bool(np.allclose(model.A_, A) and np.allclose(model.B_, B))
    True
    """

    def __init__(self, rank=None, rank_omega=None, svd: str = "auto"):
        self.rank = rank
        self.rank_omega = rank_omega
        self.svd = svd

    def fit(self, X, U) -> DMDc:
        """Fit to state trajectories ``X`` and the inputs ``U`` between their snapshots.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            State trajectories, samples as rows.
        U : array of shape (T - 1, q), (n_traj, T - 1, q), or list of arrays (T_i - 1, q)
            Inputs, ``U[k]`` acting between ``X[k]`` and ``X[k + 1]``.

        Returns
        -------
        self
        """
        self._check_params()
        data, Up = control_pairs(X, U)
        ops, Xp, Yp = data.ops, data.X, data.Y
        m, n = Xp.shape
        omega = ops.concat([Xp, Up], axis=1)
        rank_omega = _check_rank_none_full(self.rank_omega, "rank_omega")
        Uo, so, Vho = truncated_svd(omega, rank_omega, self.svd, check_finite=False)
        if self.rank_omega is None:
            p = _numerical_rank(ops, so, omega.shape)
            Uo, so, Vho = Uo[:, :p], so[:p], Vho[:p]
        YUs = (Yp.T @ Uo) / so  # (n, p): Y^T Uo So^-1, so [A | B] = YUs @ Vho
        V1, V2 = Vho[:, :n], Vho[:, n:]
        basis = None
        if self.rank is not None or m < n:
            rank = -1 if self.rank is None else self.rank
            basis = truncated_svd(Yp, rank, self.svd, check_finite=False)[2].T
        if basis is None or basis.shape[1] == n:
            basis = ops.eye(n)
            A, B = YUs @ V1, YUs @ V2
            eigenvalues, modes = _sorted_eig(ops, A)
        else:
            reduced_out = basis.T @ YUs  # (r, p)
            A, B = reduced_out @ (V1 @ basis), reduced_out @ V2
            eigenvalues, W = _sorted_eig(ops, A)
            modes = ops.ascomplex(YUs @ (V1 @ basis)) @ W
        self._ops = ops
        self.A_, self.B_, self.basis_ = A, B, basis
        self.eigenvalues_, self.modes_ = eigenvalues, modes
        self.rank_ = int(A.shape[0])
        self.rank_omega_ = int(so.shape[0])
        self.n_features_in_ = int(n)
        self.n_inputs_ = int(Up.shape[1])
        return self

    def predict(self, x0, U):
        """Roll the controlled model forward from ``x0`` under the inputs ``U``.

        ``z_0 = basis_.T @ x0``, ``z_{k+1} = A_ @ z_k + B_ @ u_k``, ``x_k = basis_ @ z_k``.

        Parameters
        ----------
        x0 : array of shape (n_features,) or (batch, n_features)
            Initial state(s).
        U : array of shape (n_steps, q) or (batch, n_steps, q)
            Inputs; a 1-D ``(n_steps,)`` array when ``q = 1`` and ``x0`` is 1-D.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Row 0 is ``x0`` projected on ``basis_`` (``x0`` itself without truncation). Same
            array kind (numpy / torch and device) as ``x0``.
        """
        ops, x, u, single = self._check_predict_input(x0, U)
        basis = ops.asarray(self.basis_)
        out = self._rollout(ops, x @ basis, u) @ basis.T
        return _convert_like(ops, out[0] if single else out, x0)


class EDMDc(_ControlModel):
    """Extended DMD with control: a dictionary on the state, inputs entering linearly.

    With ``Psi_X = psi(X)``, ``Psi_Y = psi(Y)`` (shape (m, p)) and the inputs ``U`` (m, q),
    solves ``Psi_Y ≈ Psi_X @ K + U @ L`` in regularized least squares (Korda & Mezić 2018,
    Automatica 93, Eq. 22, in row convention) and returns the lifted linear system
    ``z_{k+1} = A_ z_k + B_ u_k``, ``x_k ≈ C_ z_k`` with ``A_ = K.T``, ``B_ = L.T``.

    Parameters
    ----------
    dictionary : Dictionary, default Identity()
        Observables ``psi`` of the state (see :mod:`koopkit.dictionaries`); fitted on ``X``.
    rank : int, float, or None, default None
        Truncation of the SVD of ``[Psi_X, U]`` (rules of :mod:`koopkit.linalg`); ``None``
        keeps all directions, as in :class:`koopkit.EDMD`.
    regularization : float, default 0.0
        Tikhonov parameter ``alpha``: the normal equations use ``G + alpha I`` with
        ``G = [Psi_X, U]^T [Psi_X, U] / m``.
    svd : {"svd", "auto", "gram", "randomized"}, default "svd"
        SVD path for ``[Psi_X, U]`` (the thin SVD, for the reason given in :class:`koopkit.EDMD`).

    Attributes
    ----------
    A_ : array of shape (p, p)
        Lifted state matrix, ``A_ = koopman_matrix_.T``.
    B_ : array of shape (p, q)
        Lifted input matrix.
    C_ : array of shape (n_features, p)
        Read-out ``x ≈ C_ @ psi(x)``: the dictionary's ``state_matrix_`` when it contains the
        state, else the least-squares fit on the training states.
    koopman_matrix_ : array of shape (p, p)
        ``K`` of the row convention of :class:`koopkit.EDMD` (unforced part).
    eigenvalues_ : array of shape (p,), complex
        Discrete-time eigenvalues of ``A_``, ordered by modulus then phase.
    modes_ : array of shape (n_features, p), complex
        ``x ≈ Re(modes_ @ phi(x))`` with the eigenfunctions ``phi`` of :meth:`eigenfunctions`.
    dictionary_ : Dictionary
        The fitted dictionary.
    n_inputs_ : int
        Number of inputs ``q``.
    """

    def __init__(self, dictionary=None, rank=None, regularization: float = 0.0, svd: str = "svd"):
        self.dictionary = dictionary
        self.rank = rank
        self.regularization = regularization
        self.svd = svd

    def fit(self, X, U) -> EDMDc:
        """Fit to state trajectories ``X`` and inputs ``U`` (layouts of :meth:`DMDc.fit`).

        Returns
        -------
        self
        """
        self._check_params()
        reg = self.regularization
        if isinstance(reg, bool) or not (isinstance(reg, numbers.Real) and reg >= 0):
            raise ValueError(f"regularization must be a number >= 0, got {reg!r}")
        data, Up = control_pairs(X, U)
        ops = data.ops
        dictionary = Identity() if self.dictionary is None else self.dictionary
        self.dictionary_ = dictionary.fit(data.X)
        psi_x = ops.asarray(dictionary.transform(data.X))
        psi_y = ops.asarray(dictionary.transform(data.Y))
        m, p = psi_x.shape
        Uo, s, Vh = truncated_svd(
            ops.concat([psi_x, Up], axis=1), _check_rank_none_full(self.rank, "rank"), self.svd
        )
        s_inv = s / (s**2 + m * reg)
        G = Vh.T @ ((Uo.T @ psi_y) * s_inv[:, None])  # (p + q, p): [K; L]
        K, L = G[:p], G[p:]
        state_matrix = dictionary.state_matrix_
        if state_matrix is not None:
            C = ops.asarray(state_matrix).T
        else:
            C = ops.lstsq(psi_x, data.X).T
        eigenvalues, xi = _sorted_eig(ops, K)
        self._ops = ops
        self.koopman_matrix_ = K
        self.A_, self.B_, self.C_ = K.T, L.T, C
        self.eigenvalues_ = eigenvalues
        self._eigvecs = xi
        # phi(x) = psi(x) Xi and x = C psi(x), so x = C Xi^{-T} phi(x).
        self.modes_ = ops.lstsq(xi, ops.ascomplex(C).T).T
        self.rank_ = int(s.shape[0])
        self.n_features_in_ = int(data.X.shape[1])
        self.n_inputs_ = int(Up.shape[1])
        return self

    def eigenfunctions(self, X):
        """Eigenfunctions of the unforced lifted dynamics at states ``X``.

        Parameters
        ----------
        X : array of shape (m, n_features)

        Returns
        -------
        array of shape (m, p), complex
            ``phi_j(x) = psi(x) @ xi_j`` with ``koopman_matrix_ @ xi_j = eigenvalues_[j] xi_j``.
        """
        self._check_is_fitted()
        X = self._ops.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (m, {self.n_features_in_}), got {tuple(X.shape)}")
        psi = self._ops.asarray(self.dictionary_.transform(X))
        return self._ops.ascomplex(psi) @ self._eigvecs

    def predict(self, x0, U):
        """Roll the lifted model forward from ``x0`` under the inputs ``U``.

        ``z_0 = psi(x0)``, ``z_{k+1} = A_ @ z_k + B_ @ u_k``, ``x_k = C_ @ z_k``.

        Parameters
        ----------
        x0 : array of shape (n_features,) or (batch, n_features)
            Initial state(s).
        U : array of shape (n_steps, q) or (batch, n_steps, q)
            Inputs; a 1-D ``(n_steps,)`` array when ``q = 1`` and ``x0`` is 1-D.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Same array kind (numpy / torch and device) as ``x0``.
        """
        ops, x, u, single = self._check_predict_input(x0, U)
        z = ops.asarray(self.dictionary_.transform(x))
        out = self._rollout(ops, z, u) @ ops.asarray(self.C_).T
        return _convert_like(ops, out[0] if single else out, x0)
