"""Dynamic mode decomposition: exact and projected modes, total-least-squares, forward-backward.

Samples are rows. For snapshot pairs ``X, Y`` of shape ``(m, n)`` (``Y[i]`` the successor of
``X[i]``), DMD finds the best linear map ``y ≈ A x`` of rank ``r`` (Schmid 2010; Tu et al.
2014, J. Comput. Dyn. 1(2), Algorithm 2). With the truncated SVD ``X = U_t S Vh`` the POD
basis of state space is ``basis_ = Vh.T`` (n, r) and the reduced operator is

``operator_ = conj(Vh) @ Y.T @ conj(U_t) @ S^-1``   (r, r),  acting on ``z = basis_^H x``

(the conjugates only matter for complex data). ``operator_ @ W = W diag(eigenvalues_)``; the
modes are ``Y.T @ conj(U_t) @ S^-1 @ W`` ("exact", Tu et al. Eq. 3.3) or ``basis_ @ W``
("projected", Schmid 2010). The layout of PyDMD is the transpose of this one: PyDMD's snapshot
matrix is our ``X.T``; the reduced operator, the eigenvalues and the modes (columns) are the
same.

For tall data the SVD of ``X`` is never formed (``svd="gram"``, the default path for such
shapes): ``X X^H`` and ``X Y^H`` are blocks of one Gram matrix of the stacked snapshots, whose
leading eigenvectors give ``U_t`` and ``S`` (Sirovich 1987, the method of snapshots).
"""

from __future__ import annotations

import numbers

import numpy as np

from koopkit._base import (
    BaseEstimator,
    SpectralModelMixin,
    _check_block,
    check_finite_result,
    eig_checked,
    snapshot_pairs,
)
from koopkit._base import _layout_hint as layout_hint
from koopkit.linalg import (
    SVD_METHODS,
    _check_singular_values,
    _gram_in_range,
    _safe_scale,
    choose_svd_method,
    gram_eigh,
    truncated_svd,
)
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
    d, W = eig_checked(ops, M, "forward-backward operator A_f A_b^-1")
    _require_invertible(ops, W, "the eigenvector matrix of A_f A_b^-1 (a defective operator)")
    Winv = ops.solve(W, ops.ascomplex(ops.eye(W.shape[0])))
    forward = (Winv @ ops.ascomplex(reference) @ W).diagonal()
    root = d**0.5
    flip = abs(-root - forward) < abs(root - forward)
    root = root * (1 - 2 * flip)
    return root, W, Winv


def _require_invertible(ops, M, what: str) -> None:
    s = ops.to_numpy(ops.svd(M)[1])
    if not s[-1] > s[0] * (M.shape[0] * ops.eps):
        raise ValueError(
            f"forward-backward DMD needs {what} to be invertible, and it is singular on these "
            "data (the dynamics are not invertible in the kept POD basis); use "
            "forward_backward=False or a smaller rank"
        )


def _tall_lstsq(ops, B, x, normal=None):
    """``argmin_c |B c - x|`` for a tall ``B`` of shape (n, r) and ``x`` of shape (n, 1).

    The normal equations ``(B^H B) c = B^H x`` (given as ``normal``, or formed by one (r, r)
    product) are used when ``cond(B)^2 <= 1e6``, so their error stays below ``1e6 eps``;
    LAPACK's least squares otherwise.
    """
    M, rhs = normal if normal is not None else (B.conj().T @ B, B.conj().T @ x)
    if ops.all_finite(M) and ops.all_finite(rhs):  # B^H B overflows for huge columns
        evals = ops.to_numpy(ops.eigh(M)[0])
        if evals[0] > evals[-1] * 1e-6:
            return ops.solve(M, rhs)
    return ops.lstsq(B, x)


class _PODFit:
    """The quantities of one DMD fit in the POD basis of ``X`` (PyDMD's column notation).

    With the snapshot matrices ``Xc = X^T``, ``Yc = Y^T`` (n, m) and the truncated SVD
    ``Xc = Uc S Vc^H``: ``basis = Uc`` (n, r), ``YVs = Yc Vc S^-1`` (n, r), the reduced
    operator ``A = Uc^H Yc Vc S^-1`` (r, r), and the POD coordinates of the snapshots
    ``Zx = (Uc^H Xc)^T``, ``Zy = (Uc^H Yc)^T`` (m, r), needed by forward-backward DMD only.
    ``normal(B_name)`` gives the normal equations of the first snapshot on ``YVs`` or on the
    basis when the Gram matrix already holds them (else None).
    """

    def __init__(self, s, basis, YVs, A, coordinates, normal=lambda which: None):
        self.s, self.basis, self.YVs, self.A = s, basis, YVs, A
        self.coordinates = coordinates  # () -> (Zx, Zy), computed on demand
        self.normal = normal


def _pod_from_svd(ops, Xp, Yp, rank, method: str, seed: int) -> _PODFit:
    """POD quantities from a truncated SVD of the row matrix ``Xp = U S Vh`` (``Uc = Vh^T``)."""
    U, s, Vh = truncated_svd(Xp, rank, method, seed=seed, check_finite=False)
    YVs = (Yp.T @ U.conj()) / s
    return _PODFit(s, Vh.T, YVs, Vh.conj() @ YVs, lambda: (U * s, Yp @ Vh.conj().T))


def _pod_from_gram(ops, data, Xp, Yp, rank) -> _PODFit | None:
    """POD quantities from Gram matrices only (Sirovich's method of snapshots).

    ``Gxx = Xc^H Xc = Vc S^2 Vc^H`` and ``Gxy = Xc^H Yc`` (m, m) give ``A = C^H Gxy C`` with
    ``C = Vc S^-1``, and ``basis = Xc C``, ``YVs = Yc C`` cost one more pass over the data.
    For one trajectory (or a batch) both Gram matrices are blocks of the Gram matrix of the
    stacked snapshots, one product ``stack^H``-wise. Data whose Gram matrix would overflow or
    underflow are scaled by an exact power of two first. Returns ``None`` when the rank rule
    needs singular values that the Gram matrix does not resolve (see
    :func:`koopkit.linalg.gram_eigh`).
    """
    m, n = Xp.shape
    stack = data.stack if Xp is data.X else None

    def grams():
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is detected below
            if stack is not None:
                G = stack.conj() @ stack.T
                return G, G[data.index_x][:, data.index_x], G.diagonal()
            Gxx = Xp.conj() @ Xp.T
            return None, Gxx, ops.concat([Gxx.diagonal(), (Yp.conj() * Yp).sum(1)])

    G, Gxx, diag = grams()
    scale = 1.0
    if not _gram_in_range(ops, ops.real(diag)):
        # A NaN/Inf anywhere makes its row's squared norm on the diagonal non-finite; the
        # data were not checked before, so tell that apart from overflow here.
        blocks = [stack] if stack is not None else [Xp, Yp]
        if not all(ops.all_finite(b) for b in blocks):
            raise ValueError("X contains NaN or Inf; expected finite values")
        scale = _safe_scale(ops, *blocks)
        if scale is None:
            _check_singular_values(ops, 0.0, (m, n))
        stack = None if stack is None else stack * scale
        Xp, Yp = Xp * scale, Yp * scale
        G, Gxx, _ = grams()
    found = gram_eigh(ops, Gxx, (m, n), rank)
    if found is None:
        return None
    s, Vc = found
    C = Vc / s
    normal = lambda which: None  # noqa: E731
    if stack is not None:
        r = C.shape[1]
        C_full = ops.zeros((stack.shape[0], 2 * r), complex_=ops.complex_data)
        C_full[data.index_x, :r] = C
        C_full[data.index_y, r:] = C
        P = C_full.T @ stack  # (2r, n): one pass over the data for both products
        basis, YVs = P[:r].T, P[r:].T
        Gxy = G[data.index_x][:, data.index_y]
        CH = C.conj().T

        def normal(which):
            # B^H B and B^H x0 for B = Yc C (exact) or Xc C (basis); x0 is stack row 0.
            rows = data.index_y if which == "exact" else data.index_x
            return CH @ G[rows][:, rows] @ C, CH @ G[rows][:, :1] / scale

    else:
        Gxy = Xp.conj() @ Yp.T
        basis, YVs = (C.T @ Xp).T, (C.T @ Yp).T
    s_data = s / scale
    _check_singular_values(ops, float(ops.to_numpy(s_data[0])), (m, n))
    return _PODFit(
        s_data,
        basis,
        YVs,
        C.conj().T @ Gxy @ C,
        lambda: (Vc.conj() * s, Gxy.T @ C.conj()),
        normal,
    )


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
        ``z = basis_.conj().T @ x``.
    basis_ : array of shape (n_features, r)
        Orthonormal POD basis (leading right singular vectors of ``X``).
    singular_values_ : array of shape (r,)
        Kept singular values of ``X``.
    rank_ : int
        Kept rank ``r``.

    Notes
    -----
    Arrays in, same arrays out: numpy input gives numpy attributes; torch input is computed
    with ``torch.linalg`` on the input's device and gives torch attributes. Tensors are
    detached in ``fit``: no gradient flows through the linear estimators (use
    :mod:`koopkit.operators` for a trainable Koopman operator). float32 input is computed in
    float32/complex64, everything else in float64/complex128.

    Complex snapshots are fitted as they are (complex eigenvalues without conjugate pairs,
    complex modes and predictions); nothing is cast to real. Ranks are capped at the
    numerical rank of ``X`` (see :mod:`koopkit.linalg`).

    Coming from PyDMD: snapshots are rows here (pass ``X.T`` of PyDMD's matrix); ``rank=`` is
    ``svd_rank=``, ``eigenvalues_`` is ``eigs``, ``reconstruct()`` is ``reconstructed_data``
    and :func:`koopkit.analysis.plotting.plot_eigenvalues` is ``plot_eigs``. The PyDMD names
    raise errors that say so.

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

    def _check_params(self) -> None:
        if self.method not in ("exact", "projected"):
            raise ValueError(f"method must be 'exact' or 'projected', got {self.method!r}")
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        tl = self.tlsq_rank
        if isinstance(tl, bool) or not isinstance(tl, numbers.Integral) or tl < 0:
            raise ValueError(f"tlsq_rank must be a non-negative integer, got {tl!r}")

    # Overflow inside the fit is not an error by itself: every fitted quantity is checked and
    # a clear ValueError names the problem.
    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def fit(self, X, Y=None) -> DMD:
        """Fit to trajectories or to snapshot pairs.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories, samples as rows; pairs are formed inside each trajectory only.
            With ``Y``: current states, shape (m, n). Real or complex; torch tensors are
            detached (no gradient flows through the fit).
        Y : array of shape (m, n), optional
            Successor states of the rows of ``X``.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN/Inf, too few snapshots, a rank above ``min(m, n)`` (with a note on the
            layout when the data look transposed), zero data, or dynamics whose fitted
            operator overflows.

        Warns
        -----
        koopkit.linalg.NumericalRankWarning
            When an explicit integer rank exceeds the numerical rank of ``X``; the numerical
            rank is used instead.
        """
        self._check_params()
        # NaN/Inf are found by the Gram route on its way (its diagonal holds every squared
        # row norm), so only the other routes pay a pass over the data for them.
        data = snapshot_pairs(X, Y, owner="DMD", check_finite=False)
        ops, Xp, Yp = data.ops, data.X, data.Y
        m, n = Xp.shape
        if isinstance(self.rank, numbers.Integral) and self.rank > min(m, n):
            raise ValueError(
                f"rank={self.rank} is larger than the data allows (min({m} snapshot pairs, "
                f"{n} feature(s)) = {min(m, n)})" + layout_hint((m, n))
            )
        method = self.svd
        if method == "auto":
            method = choose_svd_method((m, n), self.rank, single_precision=ops.eps > 1e-10)
        if method != "gram" or self.tlsq_rank > 0:
            for name, block in [("X", data.X), ("Y", data.Y)]:
                _check_block(ops, block, name, (2,))
        if self.tlsq_rank > 0:
            if self.tlsq_rank > min(m, 2 * n):
                raise ValueError(
                    f"tlsq_rank={self.tlsq_rank} is larger than the data allows "
                    f"(min of {m} pairs and {2 * n} features)" + layout_hint((m, n))
                )
            Ut = truncated_svd(
                ops.concat([Xp, Yp], axis=1),
                self.tlsq_rank,
                self.svd,
                seed=self.seed,
                check_finite=False,
            )[0]
            Xp, Yp = Ut @ (Ut.conj().T @ Xp), Ut @ (Ut.conj().T @ Yp)
            check_finite_result(ops, "total-least-squares projection", Xp, Yp)
        pod = _pod_from_gram(ops, data, Xp, Yp, self.rank) if method == "gram" else None
        if pod is None:
            # From the Gram route: the rank rule needs directions below its resolution.
            method = "svd" if method == "gram" else method
            pod = _pod_from_svd(ops, Xp, Yp, self.rank, method, self.seed)
        check_finite_result(ops, "reduced operator", pod.A, pod.YVs, pod.basis)
        if self.forward_backward:
            Zx, Zy = pod.coordinates()
            check_finite_result(ops, "POD coordinates", Zx, Zy)
            A_backward = ops.lstsq(Zy, Zx).T
            _require_invertible(ops, A_backward, "the backward operator A_b")
            eigenvalues, W, Winv = _principal_sqrt_near(
                ops,
                pod.A @ ops.solve(A_backward, ops.eye(A_backward.shape[0], ops.complex_data)),
                pod.A,
            )
            operator = (W * eigenvalues) @ Winv
            operator = operator if ops.complex_data else ops.real(operator)
        else:
            operator = pod.A
            eigenvalues, W = eig_checked(ops, operator)
        order = sort_eigenvalues(ops.to_numpy(eigenvalues))
        order = ops.from_numpy(order) if ops.name == "torch" else order
        eigenvalues, W = eigenvalues[order], W[:, order]
        # modes = B @ W with B = YVs (exact) or the basis (projected). The amplitudes solve
        # min |modes b - x0| as B c ~ x0, then W b ~ c: small solves replace a complex
        # least-squares problem of size (n, r).
        B = pod.YVs if self.method == "exact" else pod.basis
        c = _tall_lstsq(ops, B, data.first_states[0][:, None], pod.normal(self.method))
        self.amplitudes_ = ops.lstsq(W, ops.ascomplex(c))[:, 0]
        self.modes_ = B @ W if ops.complex_data else ops.real_times_complex(B, W)
        self._ops = ops
        self._fit_layout = (data.layout, data.lengths, data.first_states)
        self.rank_ = int(pod.s.shape[0])
        self.singular_values_ = pod.s
        self.basis_ = pod.basis
        self.operator_ = operator
        self.eigenvalues_ = eigenvalues
        self.n_features_in_ = int(n)
        check_finite_result(
            ops, "model", self.eigenvalues_, self.modes_, self.amplitudes_, self.operator_
        )
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
