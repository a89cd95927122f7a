"""Optimized DMD by variable projection and its bagged version (BOP-DMD).

Exact DMD fits one-step maps and its eigenvalues are biased by noise in both snapshots of a
pair. Optimized DMD fits the whole trajectory at once with sums of exponentials,

``X ≈ Phi(alpha, t) @ B``,   ``Phi[k, j] = exp(alpha_j t_k)``    (rows are samples),

minimizing ``||X - Phi(alpha, t) B||_F`` over the continuous-time exponents ``alpha`` (r,) and
the amplitudes ``B`` (r, n) (Askham & Kutz 2018, SIAM J. Appl. Dyn. Syst. 17(1), Eq. 2.9). For
fixed ``alpha`` the best ``B`` is a linear least-squares solution, so only ``alpha`` is
iterated (variable projection, Golub & Pereyra 1973) with Levenberg–Marquardt steps on
Kaufman's Jacobian. Sample times may be irregular.

BOP-DMD (Sashidhar & Kutz 2022, Phil. Trans. R. Soc. A 380: 20210199, Algorithm 1) refits on
many random subsets of the snapshots ("bags"), starting each from the full fit, and reports
the mean and the spread of the eigenvalues: an uncertainty estimate for every eigenvalue.

Units: times ``t`` are in steps (``0, 1, ..., T - 1`` by default; pass ``t = times / dt`` for
irregular samples), so ``eigenvalues_ = exp(alpha)`` are discrete-time, per step, as everywhere
in koopkit, and ``continuous_eigenvalues(dt) = alpha / dt``.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy.optimize import linear_sum_assignment
from tqdm.auto import tqdm

from koopkit._backend import ops_for
from koopkit._base import BaseEstimator, SpectralModelMixin, _check_block
from koopkit.linalg import SVD_METHODS, truncated_svd
from koopkit.spectrum import _check_dt, sort_eigenvalues

__all__ = ["OptDMD", "BOPDMD", "variable_projection", "conjugate_pairs"]


def _projected_lstsq(Phi, Z):
    """Least-squares ``B`` of ``Z ≈ Phi B`` and the orthonormal basis ``Q`` of range(Phi)."""
    Q, R = np.linalg.qr(Phi)
    diag = np.abs(np.diag(R))
    if diag.min() <= 1e3 * np.finfo(float).eps * diag.max():
        # Two exponents (nearly) coincide: the minimum-norm solution keeps B finite.
        B = np.linalg.lstsq(Phi, Z, rcond=None)[0]
        U = np.linalg.svd(Phi, full_matrices=False)[0]
        return B, U[:, : np.linalg.matrix_rank(Phi)]
    return np.linalg.solve(R, Q.conj().T @ Z), Q


def _residuals(blocks, alpha):
    """Per block: ``(B, Q, residual)`` at exponents ``alpha``; and the total squared residual."""
    out, total = [], 0.0
    for t, Z in blocks:
        Phi = np.exp(np.outer(t, alpha))
        B, Q = _projected_lstsq(Phi, Z)
        res = Z - Phi @ B
        out.append((B, Q, res))
        total += float(np.vdot(res, res).real)
    return out, total


def conjugate_pairs(alpha) -> np.ndarray:
    """The nearest conjugate-symmetric set: pair every exponent with its closest conjugate.

    Real data have real exponents and conjugate pairs; an unconstrained fit breaks that
    symmetry by round-off or noise. Pairs are formed greedily, closest first (an exponent may
    pair with itself and becomes real), and each pair is replaced by its mean
    ``(a + conj(b)) / 2`` and that mean's conjugate, as PyDMD's ``conjugate_pairs``
    constraint does (here in double precision).

    Parameters
    ----------
    alpha : ndarray of shape (r,), complex

    Returns
    -------
    ndarray of shape (r,), complex
        Closed under conjugation.
    """
    alpha = np.asarray(alpha, dtype=complex)
    out = alpha.copy()
    cost = np.abs(alpha[:, None] - alpha.conj()[None, :])
    free = np.ones(alpha.size, dtype=bool)
    while free.any():
        masked = np.where(free[:, None] & free[None, :], cost, np.inf)
        i, j = np.unravel_index(np.argmin(masked), masked.shape)
        if i == j:
            out[i] = alpha[i].real
        else:
            mean = (alpha[i] + alpha[j].conj()) / 2
            out[i], out[j] = mean, mean.conj()
        free[[i, j]] = False
    return out


def variable_projection(
    blocks, alpha, max_iter: int = 30, tol: float = 1e-10, symmetric: bool = False
) -> tuple:
    """Levenberg–Marquardt on ``alpha`` for ``Z_i ≈ Phi(alpha, t_i) B_i`` over all blocks.

    Every block (trajectory) has its own amplitudes ``B_i``; the exponents are shared. The
    Jacobian is Kaufman's approximation ``J_j = -(I - P) (d Phi / d alpha_j) B`` (Askham &
    Kutz 2018, Eq. 2.13), whose normal matrix is the Hadamard product
    ``J^H J = (D^H D) * conj(B B^H)`` with ``D = (I - P) (t * Phi)``, so ``J`` is never formed.

    Parameters
    ----------
    blocks : list of (ndarray of shape (T_i,), ndarray of shape (T_i, k))
        Sample times and (projected) data of every trajectory.
    alpha : ndarray of shape (r,), complex
        Initial exponents.
    max_iter : int, default 30
        Maximum number of accepted steps.
    tol : float, default 1e-10
        Stop when an accepted step lowers the squared residual by less than ``tol`` times its
        value.
    symmetric : bool, default False
        Keep the exponents closed under conjugation (:func:`conjugate_pairs` after every
        step), as real data require.

    Returns
    -------
    alpha : ndarray of shape (r,), complex
    B : list of ndarray of shape (r, k), complex
        Amplitudes of every block.
    n_iter : int
        Accepted steps taken.
    """
    alpha = np.asarray(alpha, dtype=complex).copy()
    if symmetric:
        alpha = conjugate_pairs(alpha)
    state, objective = _residuals(blocks, alpha)
    # An exact fit to round-off cannot be improved: stop there rather than shrink steps.
    floor = (64 * np.finfo(float).eps) ** 2 * sum(float(np.vdot(Z, Z).real) for _, Z in blocks)
    mu, n_iter = 1e-2, 0
    for n_iter in range(1, max_iter + 1):  # noqa: B007 (n_iter is returned)
        if objective <= floor:
            n_iter -= 1
            break
        JJ = np.zeros((alpha.size, alpha.size), dtype=complex)
        grad = np.zeros(alpha.size, dtype=complex)
        for (t, _), (B, Q, res) in zip(blocks, state, strict=True):
            dPhi = t[:, None] * np.exp(np.outer(t, alpha))
            D = dPhi - Q @ (Q.conj().T @ dPhi)
            JJ += (D.conj().T @ D) * (B.conj() @ B.T)
            # J^H r = -diag(D^H r B^H); D^H r = dPhi^H r because r is orthogonal to range(Phi).
            grad -= np.einsum("js,js->j", dPhi.conj().T @ res, B.conj())
        scale = np.maximum(np.real(np.diag(JJ)), 1e-12 * max(np.real(np.diag(JJ)).max(), 1e-300))
        accepted = False
        for _ in range(40):
            try:
                delta = np.linalg.solve(JJ + mu * np.diag(scale), -grad)
            except np.linalg.LinAlgError:
                mu *= 4.0
                continue
            trial = conjugate_pairs(alpha + delta) if symmetric else alpha + delta
            trial_state, trial_objective = _residuals(blocks, trial)
            if np.isfinite(trial_objective) and trial_objective < objective:
                accepted = True
                break
            mu *= 4.0
        if not accepted:
            break
        decrease = objective - trial_objective
        alpha, state, objective = trial, trial_state, trial_objective
        mu = max(mu / 5.0, 1e-12)
        if decrease <= tol * objective:
            break
    return alpha, [s[0] for s in state], n_iter


def _check_times(t, T: int, name: str) -> np.ndarray:
    t = np.asarray(t, dtype=float)
    if t.shape != (T,):
        raise ValueError(f"{name} must have shape ({T},) (one time per snapshot), got {t.shape}")
    if not np.all(np.isfinite(t)):
        raise ValueError(f"{name} contains NaN or Inf; expected finite times")
    if np.any(np.diff(t) <= 0):
        raise ValueError(f"{name} must be strictly increasing")
    return t


def _trajectories_and_times(X, t):
    """``(ops, list of 2-D trajectories, list of time vectors)`` for every layout of ``X``."""
    if isinstance(X, (list, tuple)):
        if not X:
            raise ValueError("X is an empty list; expected trajectories of shape (T_i, n)")
        ops = ops_for(X[0])
        trajs = [ops.asarray(x) for x in X]
    else:
        ops = ops_for(X)
        X = ops.asarray(X)
        _check_block(ops, X, "X", (2, 3))
        trajs = [X] if X.ndim == 2 else list(X)
    for i, x in enumerate(trajs):
        _check_block(ops, x, f"trajectory {i}", (2,))
        if x.shape[0] < 2:
            raise ValueError(f"every trajectory needs at least 2 snapshots, got {x.shape[0]}")
    if len({x.shape[1] for x in trajs}) != 1:
        raise ValueError("all trajectories must have the same number of features n")
    if t is None:
        times = [np.arange(x.shape[0], dtype=float) for x in trajs]
    elif isinstance(t, (list, tuple)) and len(t) and np.ndim(t[0]) == 1:
        if len(t) != len(trajs):
            raise ValueError(f"t must hold one time vector per trajectory ({len(trajs)})")
        times = [
            _check_times(ti, x.shape[0], f"t[{i}]")
            for i, (ti, x) in enumerate(zip(t, trajs, strict=True))
        ]
    else:
        times = [_check_times(t, x.shape[0], "t") for x in trajs]
    return ops, trajs, times


def _initial_exponents(blocks, r: int) -> np.ndarray:
    """Exact DMD exponents for uniform steps, the trapezoidal rule of Askham & Kutz otherwise.

    With one common step ``h`` the one-step map of the projected data has eigenvalues
    ``exp(alpha h)``; for irregular samples ``(z_{k+1} - z_k) / dt_k ≈ A (z_k + z_{k+1}) / 2``
    gives a continuous-time ``A`` (Askham & Kutz 2018, Sec. 3.2).
    """
    steps = np.concatenate([np.diff(t) for t, _ in blocks])
    Zx = np.concatenate([Z[:-1] for _, Z in blocks])
    Zy = np.concatenate([Z[1:] for _, Z in blocks])
    if np.allclose(steps, steps[0], rtol=1e-9, atol=0):
        M = np.linalg.lstsq(Zx, Zy, rcond=None)[0]
        return np.log(np.linalg.eigvals(M).astype(complex)) / steps[0]
    mid, slope = (Zx + Zy) / 2, (Zy - Zx) / steps[:, None]
    return np.linalg.eigvals(np.linalg.lstsq(mid, slope, rcond=None)[0]).astype(complex)


class OptDMD(SpectralModelMixin, BaseEstimator):
    """Optimized DMD (Askham & Kutz 2018): exponential fit of whole trajectories.

    The data are projected on their leading ``r`` POD modes (one SVD of all snapshots), the
    exponents start from exact DMD on the projected data and are refined by variable
    projection; modes are the fitted amplitudes mapped back to the state.

    Parameters
    ----------
    rank : int, float, or None, default None
        Number of exponentials: rank rule of :mod:`koopkit.linalg` for the POD projection
        (``None`` is the optimal hard threshold, as in :class:`koopkit.DMD`).
    max_iter : int, default 30
        Maximum number of Levenberg–Marquardt steps.
    tol : float, default 1e-10
        Relative decrease of the squared residual below which the iteration stops.
    svd : {"auto", "svd", "gram", "randomized"}, default "auto"
        SVD path of the projection (see :func:`koopkit.linalg.truncated_svd`).
    conjugate_pairs : bool, default True
        Constrain the exponents to real values and conjugate pairs, the structure of real
        data (:func:`conjugate_pairs` after every step); ``False`` fits them freely, like
        PyDMD's default.

    Attributes
    ----------
    eigenvalues_ : array of shape (r,), complex
        Discrete-time eigenvalues ``exp(alpha)`` per unit of ``t`` (per step by default),
        ordered by modulus then phase, conjugate pairs together.
    modes_ : array of shape (n_features, r), complex
        Unit-norm modes (with several trajectories: the dominant direction of each exponent's
        amplitudes over the trajectories).
    amplitudes_ : array of shape (r,), complex
        Amplitudes of the first trajectory at ``t = 0``:
        ``x(t) ≈ Re(modes_ @ (amplitudes_ * eigenvalues_**t))``.
    basis_ : array of shape (n_features, r)
        POD basis of the projection.
    residual_ : float
        Relative residual ``||X - fit||_F / ||X||_F`` of the projected data.
    n_iter_ : int
        Levenberg–Marquardt steps taken.
    rank_ : int
        Number of exponentials ``r``.

    Notes
    -----
    The POD projection and the modes use the input's backend (numpy or torch, on its device);
    the iterations work on the small ``(T, r)`` projected data in numpy float64.
    """

    def __init__(
        self,
        rank=None,
        max_iter: int = 30,
        tol: float = 1e-10,
        svd: str = "auto",
        conjugate_pairs: bool = True,
    ):
        self.rank = rank
        self.max_iter = max_iter
        self.tol = tol
        self.svd = svd
        self.conjugate_pairs = conjugate_pairs

    def _check_params(self) -> None:
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        it = self.max_iter
        if isinstance(it, bool) or not isinstance(it, numbers.Integral) or it < 0:
            raise ValueError(f"max_iter must be a non-negative integer, got {it!r}")
        if not (isinstance(self.tol, numbers.Real) and self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")

    def _project(self, X, t):
        """POD basis (backend of ``X``) and the projected blocks ``(t_i, Z_i)`` in numpy."""
        ops, trajs, times = _trajectories_and_times(X, t)
        stacked = trajs[0] if len(trajs) == 1 else ops.concat(trajs)
        basis = truncated_svd(stacked, self.rank, self.svd, check_finite=False)[2].T
        blocks = [
            (ti, ops.to_numpy(x @ basis).astype(complex))
            for ti, x in zip(times, trajs, strict=True)
        ]
        return ops, basis, blocks

    def fit(self, X, t=None) -> OptDMD:
        """Fit sums of exponentials to trajectories.

        Parameters
        ----------
        X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories, samples as rows. Every trajectory has its own amplitudes; the
            eigenvalues are shared.
        t : array of shape (T,), or list of arrays (T_i,), optional
            Sample times in steps (strictly increasing; irregular allowed); default
            ``0, 1, ..., T - 1``. One vector serves all trajectories of a batch.

        Returns
        -------
        self
        """
        self._check_params()
        ops, basis, blocks = self._project(X, t)
        alpha0 = _initial_exponents(blocks, basis.shape[1])
        alpha, amplitudes, n_iter = variable_projection(
            blocks, alpha0, self.max_iter, self.tol, self.conjugate_pairs
        )
        self._set_fit(ops, basis, blocks, alpha, amplitudes)
        self.n_iter_ = n_iter
        return self

    def _set_fit(self, ops, basis, blocks, alpha, amplitudes) -> None:
        order = sort_eigenvalues(np.exp(alpha))
        alpha = alpha[order]
        amplitudes = [B[order] for B in amplitudes]  # (r, k) per trajectory, POD coordinates
        # A linear system has one mode per exponent and an amplitude per trajectory: the
        # mode is the dominant direction of that exponent's rows over the trajectories.
        rows = np.stack(amplitudes, axis=1)  # (r, n_traj, k)
        modes = np.linalg.svd(rows, full_matrices=False)[2][:, 0, :]  # (r, k), unit rows
        b0 = np.einsum("jk,jk->j", amplitudes[0], modes.conj())
        res = sum(
            np.linalg.norm(Z - np.exp(np.outer(t, alpha)) @ B) ** 2
            for (t, Z), B in zip(blocks, amplitudes, strict=True)
        )
        total = sum(np.linalg.norm(Z) ** 2 for _, Z in blocks)
        self._ops = ops
        self._alpha = alpha
        self.basis_ = basis
        self.eigenvalues_ = ops.ascomplex(np.exp(alpha))
        self.modes_ = ops.ascomplex(basis) @ ops.ascomplex(modes.T)
        self.amplitudes_ = ops.ascomplex(b0)
        self.residual_ = float(np.sqrt(res / total)) if total > 0 else 0.0
        self.rank_ = int(alpha.size)
        self.n_features_in_ = int(basis.shape[0])

    def _coefficients(self, x):
        return self._ops.lstsq(self.modes_, self._ops.ascomplex(x).T)


class BOPDMD(OptDMD):
    """Bagging, optimized DMD (Sashidhar & Kutz 2022): eigenvalues with uncertainty.

    Fits :class:`OptDMD` on all snapshots, then ``n_bags`` times on a random subset of
    ``bag_fraction`` of the snapshots of every trajectory (kept in time order, so the
    sampling becomes irregular), each fit starting from the full one. Each bag's exponents
    are matched to the full fit's (optimal assignment), and the reported eigenvalues are
    ``exp`` of the mean exponents; the modes and amplitudes are refitted to all the data for
    those eigenvalues.

    Parameters
    ----------
    rank : int, float, or None, default None
        As in :class:`OptDMD`.
    n_bags : int, default 100
        Number of bagged fits.
    bag_fraction : float, default 0.6
        Fraction of the snapshots of every trajectory in a bag, in (0, 1].
    max_iter, tol, svd, conjugate_pairs
        As in :class:`OptDMD`.
    seed : int, default 0
        Seed of the bag selection.
    progress : bool, default False
        Show a progress bar over the bags.

    Attributes
    ----------
    eigenvalues_ : array of shape (r,), complex
        ``exp(mean over bags of alpha)``, per step, ordered by modulus then phase.
    eigenvalues_bags_ : array of shape (n_bags, r), complex
        Discrete-time eigenvalues of every bag, columns in the order of ``eigenvalues_``.
    eigenvalues_std_ : array of shape (r,), complex
        Standard deviation over bags of the real parts plus ``1j`` times that of the
        imaginary parts of the discrete-time eigenvalues.
    modes_, amplitudes_, basis_, residual_, rank_
        As in :class:`OptDMD`, for the mean eigenvalues.
    """

    def __init__(
        self,
        rank=None,
        n_bags: int = 100,
        bag_fraction: float = 0.6,
        max_iter: int = 30,
        tol: float = 1e-10,
        svd: str = "auto",
        seed: int = 0,
        progress: bool = False,
        conjugate_pairs: bool = True,
    ):
        super().__init__(
            rank=rank, max_iter=max_iter, tol=tol, svd=svd, conjugate_pairs=conjugate_pairs
        )
        self.n_bags = n_bags
        self.bag_fraction = bag_fraction
        self.seed = seed
        self.progress = progress

    def fit(self, X, t=None) -> BOPDMD:
        """Fit on all snapshots, then on ``n_bags`` random subsets (layouts of :meth:`OptDMD.fit`).

        Returns
        -------
        self
        """
        self._check_params()
        nb = self.n_bags
        if isinstance(nb, bool) or not isinstance(nb, numbers.Integral) or nb < 1:
            raise ValueError(f"n_bags must be a positive integer, got {nb!r}")
        if not (isinstance(self.bag_fraction, numbers.Real) and 0 < self.bag_fraction <= 1):
            raise ValueError(f"bag_fraction must lie in (0, 1], got {self.bag_fraction!r}")
        ops, basis, blocks = self._project(X, t)
        r = int(basis.shape[1])
        sizes = [int(round(self.bag_fraction * Z.shape[0])) for _, Z in blocks]
        if min(sizes) < 2 or sum(sizes) <= r:
            raise ValueError(
                f"bag_fraction={self.bag_fraction} leaves too few snapshots per bag "
                f"({sizes}); each trajectory needs at least 2 and all together more than "
                f"rank={r}"
            )
        alpha0 = _initial_exponents(blocks, r)
        fit = (self.max_iter, self.tol, self.conjugate_pairs)
        alpha_full, _, n_iter = variable_projection(blocks, alpha0, *fit)
        rng = np.random.default_rng(self.seed)
        bags = np.empty((nb, r), dtype=complex)
        for b in tqdm(range(nb), desc="BOP-DMD bags", disable=not self.progress, leave=False):
            bag = []
            for (ti, Z), size in zip(blocks, sizes, strict=True):
                idx = np.sort(rng.choice(Z.shape[0], size=size, replace=False))
                bag.append((ti[idx], Z[idx]))
            alpha_b = variable_projection(bag, alpha_full, *fit)[0]
            # Bags may permute the exponents: match them to the full fit's.
            rows, cols = linear_sum_assignment(np.abs(alpha_b[:, None] - alpha_full[None, :]))
            bags[b, cols] = alpha_b[rows]
        alpha = bags.mean(axis=0)
        if self.conjugate_pairs:  # the mean of matched symmetric sets, up to round-off
            alpha = conjugate_pairs(alpha)
        amplitudes = [_projected_lstsq(np.exp(np.outer(ti, alpha)), Z)[0] for ti, Z in blocks]
        self._set_fit(ops, basis, blocks, alpha, amplitudes)
        order = sort_eigenvalues(np.exp(alpha))
        lam_bags = np.exp(bags[:, order])
        self._alpha_bags = bags[:, order]
        self.eigenvalues_bags_ = ops.ascomplex(lam_bags)
        self.eigenvalues_std_ = ops.ascomplex(
            lam_bags.real.std(axis=0) + 1j * lam_bags.imag.std(axis=0)
        )
        self.n_iter_ = n_iter
        return self

    def continuous_eigenvalues_std(self, dt: float) -> np.ndarray:
        """Spread of the continuous-time eigenvalues over the bags.

        Parameters
        ----------
        dt : float
            Time step (the unit of ``t`` in physical time).

        Returns
        -------
        array of shape (r,), complex
            Standard deviation over bags of ``Re(alpha) / dt`` plus ``1j`` times that of
            ``Im(alpha) / dt``, in the order of ``eigenvalues_``.
        """
        self._check_is_fitted()
        omega = self._alpha_bags / _check_dt(dt)
        return self._ops.from_numpy(omega.real.std(axis=0) + 1j * omega.imag.std(axis=0))
