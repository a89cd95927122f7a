"""Hankel (time-delay) DMD for scalar or partially observed signals, with optional HAVOK forcing.

A signal observed through few channels does not carry the whole state at one instant, but a
window of its past does (Takens embedding). Hankel DMD stacks ``delays`` consecutive
snapshots into one delay vector (:class:`koopkit.dictionaries.TimeDelay`) and runs DMD on the
delay vectors (Arbabi & Mezić 2017, SIAM J. Appl. Dyn. Syst. 16(4)). A sum of ``r``
exponentials ``exp(omega_j t)`` seen through one channel is recovered exactly with
``delays >= r`` and rank ``r``.

With ``forcing = f > 0`` the last ``f`` of the ``r`` delay coordinates are treated as an input
that drives the first ``r - f`` linearly, ``v_{k+1} = A_ v_k + B_ w_k``: the HAVOK model of
Brunton, Brunton, Proctor, Kaiser & Kutz (2017, Nat. Commun. 8:19, Eq. 2), here in discrete
time. For chaotic signals the forcing ``w`` is small most of the time and bursts before
switching events (``forcing_``).
"""

from __future__ import annotations

import numbers

from koopkit._base import BaseEstimator, SpectralModelMixin, _convert_like, snapshot_pairs
from koopkit.control import _sorted_eig
from koopkit.dictionaries import TimeDelay
from koopkit.dmd import DMD
from koopkit.linalg import SVD_METHODS, truncated_svd
from koopkit.vamp import vamp2_score

__all__ = ["HankelDMD"]


class HankelDMD(SpectralModelMixin, BaseEstimator):
    """DMD on delay-embedded trajectories (Hankel DMD), optionally with HAVOK's forcing term.

    Parameters
    ----------
    delays : int, default 2
        Snapshots per delay vector, ``d >= 1``; ``delays=1`` is plain DMD. Every trajectory
        needs at least ``delays + 1`` snapshots.
    rank : int, float, or None, default None
        Truncation of the SVD of the delay vectors (rules of :mod:`koopkit.linalg`; ``None``
        is the optimal hard threshold, as in :class:`koopkit.DMD`).
    forcing : int, default 0
        Number of trailing delay coordinates used as the forcing input (HAVOK); ``0`` fits
        the autonomous model. Must be smaller than the kept rank.
    svd : {"auto", "svd", "gram", "randomized"}, default "auto"
        SVD path (see :func:`koopkit.linalg.truncated_svd`). Every path keeps the asked rank
        up to the numerical rank of the delay vectors, also when the forcing lives in
        singular values far below the largest.

    Attributes
    ----------
    eigenvalues_ : array of shape (s,), complex
        Discrete-time eigenvalues (``s = r - forcing``), ordered by modulus then phase.
    modes_ : array of shape (n_features, s), complex
        Modes in the observed channels (the newest block of ``delay_modes_``).
    delay_modes_ : array of shape (delays * n_features, s), complex
        Modes of the delay vectors.
    basis_ : array of shape (delays * n_features, r)
        Orthonormal POD basis of the delay vectors ("eigen-time-delay" coordinates
        ``v = basis_.T @ h``).
    operator_ : array of shape (s, s)
        Reduced operator on the first ``s`` delay coordinates (``A_`` when forcing is used).
    A_, B_ : arrays of shape (s, s) and (s, forcing)
        HAVOK model ``v_{k+1} = A_ v_k + B_ w_k`` (only with ``forcing > 0``).
    forcing_ : array or list of arrays
        With ``forcing > 0``: the forcing coordinates ``w`` of the training trajectories,
        shape (T - delays + 1, forcing) per trajectory, in the layout of ``X``.
    rank_ : int
        Kept rank ``r``.
    """

    def __init__(self, delays: int = 2, rank=None, forcing: int = 0, svd: str = "auto"):
        self.delays = delays
        self.rank = rank
        self.forcing = forcing
        self.svd = svd

    def fit(self, X, y=None) -> HankelDMD:
        """Fit to trajectories of the observed channels.

        Parameters
        ----------
        X : array of shape (T,), (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Observed signal(s), samples as rows; a 1-D array is one scalar signal. Delay
            windows and snapshot pairs stay inside each trajectory.
        y : None
            Ignored (scikit-learn convention).

        Returns
        -------
        self
        """
        if self.svd not in SVD_METHODS:
            raise ValueError(f"svd must be one of {SVD_METHODS}, got {self.svd!r}")
        f = self.forcing
        if isinstance(f, bool) or not isinstance(f, numbers.Integral) or f < 0:
            raise ValueError(f"forcing must be a non-negative integer, got {f!r}")
        X = self._as_trajectories(X)
        embedding = TimeDelay(self.delays).fit(X)
        d = int(self.delays)
        lengths = [len(x) for x in X] if isinstance(X, list) else [X.shape[-2]]
        if min(lengths) < d + 1:
            raise ValueError(
                f"HankelDMD(delays={d}) needs at least delays + 1 = {d + 1} snapshots per "
                f"trajectory (one pair of delay vectors), got a trajectory of {min(lengths)}"
            )
        H = embedding.transform(X)
        n = embedding.n_features_in_
        self.n_features_in_ = n
        if f == 0:
            dmd = DMD(rank=self.rank, svd=self.svd).fit(H)
            self._ops = dmd._ops
            self._dmd = dmd
            self.basis_, self.operator_ = dmd.basis_, dmd.operator_
            self.eigenvalues_, self.delay_modes_ = dmd.eigenvalues_, dmd.modes_
            self.amplitudes_ = dmd.amplitudes_
            self.rank_ = dmd.rank_
        else:
            self._fit_forced(H, f)
        self.modes_ = self.delay_modes_[-n:]
        return self

    def _fit_forced(self, H, f: int) -> None:
        data = snapshot_pairs(H)
        ops = data.ops
        basis = truncated_svd(data.X, self.rank, self.svd)[2].T  # (d n, r)
        r = int(basis.shape[1])
        if f >= r:
            raise ValueError(
                f"forcing={f} must be smaller than the kept rank {r} (raise rank or lower forcing)"
            )
        s = r - f
        Zx, Zy = data.X @ basis, data.Y @ basis
        # v_{k+1}[:s] = A v_k[:s] + B v_k[s:] in least squares (Brunton et al. 2017, Eq. 2).
        G = ops.lstsq(Zx, Zy[:, :s])  # (r, s)
        A, B = G[:s].T, G[s:].T
        eigenvalues, W = _sorted_eig(ops, A)
        self._ops = ops
        self.basis_, self.rank_ = basis, r
        self.A_, self.B_, self.operator_ = A, B, A
        self.eigenvalues_ = eigenvalues
        self.delay_modes_ = ops.ascomplex(basis[:, :s]) @ W
        self.amplitudes_ = ops.lstsq(self.delay_modes_, ops.ascomplex(data.first_states[0]))
        w = basis[:, s:]
        self.forcing_ = [h @ w for h in H] if isinstance(H, list) else H @ w

    @staticmethod
    def _as_trajectories(X):
        if isinstance(X, (list, tuple)):
            return [x[:, None] if x.ndim == 1 else x for x in X]
        return X[:, None] if X.ndim == 1 else X

    def predict(self, history, n_steps: int, forcing=None):
        """Predict the observed channels from a window of the last ``delays`` snapshots.

        Parameters
        ----------
        history : array of shape (delays, n_features) or (batch, delays, n_features)
            The most recent ``delays`` snapshots, oldest first (a 1-D ``(delays,)`` array for
            a scalar signal).
        n_steps : int
            Number of steps; the output has ``n_steps + 1`` rows, row 0 for the newest
            snapshot of ``history``.
        forcing : array of shape (n_steps, forcing) or (batch, n_steps, forcing), optional
            Required when the model has ``forcing > 0``: the forcing coordinates
            ``w_1 .. w_{n_steps}`` of the predicted steps (``w_0`` comes from ``history``),
            e.g. ``forcing_[j + 1 : j + 1 + n_steps]`` from the window starting at row ``j`` of
            a training trajectory. They drive the model and are part of the read-out.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Same array kind (numpy / torch and device) as ``history``.
        """
        self._check_is_fitted()
        if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0:
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        ops, n, d = self._ops, self.n_features_in_, int(self.delays)
        h = ops.asarray(history)
        if h.ndim == 1 and n == 1:
            h = h[:, None]
        single = h.ndim == 2
        h = h[None] if single else h
        if h.ndim != 3 or tuple(h.shape[1:]) != (d, n):
            raise ValueError(
                f"history must have shape ({d}, {n}) or (batch, {d}, {n}) (the last delays "
                f"snapshots), got {tuple(ops.asarray(history).shape)}"
            )
        if not ops.all_finite(h):
            raise ValueError("history contains NaN or Inf; expected finite values")
        h = h.reshape(h.shape[0], d * n)
        if self.forcing == 0:
            if forcing is not None:
                raise ValueError("this model has no forcing term (forcing=0); pass forcing=None")
            out = self._dmd.predict(h, int(n_steps))[..., -n:]
        else:
            out = self._predict_forced(ops, h, int(n_steps), forcing, single)
        return _convert_like(ops, out[0] if single else out, history)

    def _predict_forced(self, ops, h, n_steps, forcing, single):
        f = int(self.forcing)
        if forcing is None:
            raise ValueError(f"this model is forced: pass forcing of shape ({n_steps}, {f})")
        w = ops.asarray(forcing)
        w = w[None] if single and w.ndim == 2 else w
        if w.ndim != 3 or tuple(w.shape) != (h.shape[0], n_steps, f):
            expected = f"({n_steps}, {f})" if single else f"({h.shape[0]}, {n_steps}, {f})"
            raise ValueError(f"forcing must have shape {expected}, got {tuple(w.shape)}")
        s = self.rank_ - f
        basis = ops.asarray(self.basis_)
        A, B = ops.asarray(self.A_), ops.asarray(self.B_)
        v = h @ basis  # (batch, r): the history's delay coordinates, w_0 = v[:, s:]
        z, w = v[:, :s], ops.concat([v[:, None, s:], w], axis=1)  # w: (batch, n_steps + 1, f)
        states = [z]
        for k in range(n_steps):
            z = z @ A.T + w[:, k] @ B.T
            states.append(z)
        V = ops.concat([ops.concat([z_[:, None] for z_ in states], axis=1), w], axis=2)
        return V @ basis[-self.n_features_in_ :].T

    def score(self, X, y=None) -> float:
        """VAMP-2 score on (held-out) trajectories, in the model's delay coordinates.

        The trajectories are delay-embedded like the training data; the input functions are
        the ``r`` delay coordinates ``basis_.T @ h`` and the output functions the ``s``
        predicted ones (all ``r`` without forcing), as in :meth:`koopkit.DMD.score`.

        Parameters
        ----------
        X : array of shape (T,), (T, n), (n_traj, T, n), or list of arrays (T_i, n)
            Trajectories with at least ``delays + 1`` snapshots each.
        y : None
            Ignored.

        Returns
        -------
        float
            Between 0 and the number of predicted coordinates; higher is better.
        """
        self._check_is_fitted()
        X = self._as_trajectories(X)
        data = snapshot_pairs(TimeDelay(self.delays).fit(X).transform(X))
        basis = data.ops.asarray(self.basis_)
        s = self.rank_ - int(self.forcing)
        return vamp2_score(data.X @ basis, data.Y @ basis[:, :s])
