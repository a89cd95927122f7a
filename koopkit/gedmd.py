"""Generator EDMD (gEDMD): the Koopman generator from states and their time derivatives.

For an ODE ``dx/dt = b(x)`` or an SDE ``dX = b(X) dt + sigma(X) dW`` the Koopman generator
acts on an observable as ``L f = b . grad f + 1/2 a : Hess f`` with ``a = sigma sigma^T`` (no
second-order term for an ODE). With a dictionary ``psi`` of ``p`` functions, gEDMD evaluates
``dpsi_k(x) = (L psi_k)(x)`` at the samples from the dictionary's analytic derivatives and
solves ``dPsi ≈ Psi_X @ L`` in least squares, exactly as EDMD solves ``Psi_Y ≈ Psi_X @ K``
(Klus, Nüske, Peitz, Niemann, Clementi & Schütte 2020, "Data-driven approximation of the
Koopman generator", Physica D 406:132416, Sec. 3, in row convention). An eigenvector
``L xi = omega xi`` gives the eigenfunction ``phi = psi @ xi`` with ``L phi ≈ omega phi``: the
eigenvalues are **continuous-time rates** (1 / time unit) and need no ``dt``. The Koopman
operator of a time step ``dt`` is ``expm(L dt)``, with eigenvalues ``exp(omega dt)``.

Time derivatives are given (``fit(X, dX)``), or estimated from trajectories sampled every ``dt``:
by finite differences of a stated order for ODE data, or, for SDE data, by the Kramers–Moyal
formulas ``b(x_k) ≈ (x_{k+1} - x_k) / dt`` and ``a(x_k) ≈ (x_{k+1} - x_k)(x_{k+1} - x_k)^T / dt``
(Klus et al. 2020, Sec. 3; exact as ``dt -> 0`` in expectation).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.linalg
from sklearn.base import clone

from koopkit._backend import is_torch, ops_for
from koopkit._base import (
    BaseEstimator,
    _check_block,
    _convert_like,
    check_finite_result,
    eig_checked,
    refuse_sparse,
)
from koopkit.dictionaries import Identity, as_dictionary
from koopkit.finite_differences import _check_dt, _check_order, finite_difference
from koopkit.linalg import truncated_svd
from koopkit.spectrum import Spectrum, sort_eigenvalues

__all__ = ["GeneratorEDMD"]

# Entries of the largest intermediate array per chunk of rows: the dictionary's Hessians are
# (rows, p, n, n), and polynomial ones pass through (rows, p, n, n, n).
_CHUNK_ENTRIES = 2**24


def _einsum(spec, *arrays):
    if is_torch(arrays[0]):
        import torch

        return torch.einsum(spec, *arrays)
    return np.einsum(spec, *arrays, optimize=True)


def _blocks(ops, X, name):
    """2-D trajectories (or sample blocks) of ``X`` in its layout: (list of (T_i, n), layout)."""
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError(f"{name} is an empty list; expected arrays of shape (T_i, n)")
        blocks = [ops.asarray(x) for x in X]
        for i, b in enumerate(blocks):
            _check_block(ops, b, f"{name}[{i}]", (2,))
        if len({b.shape[1] for b in blocks}) != 1:
            raise ValueError(f"all arrays of {name} must have the same number of features n")
        return blocks, "list"
    A = ops.asarray(X)
    _check_block(ops, A, name, (2, 3))
    return ([A] if A.ndim == 2 else list(A)), ("single" if A.ndim == 2 else "batch")


class GeneratorEDMD(BaseEstimator):
    """Generator EDMD (gEDMD): the Koopman generator in a dictionary, for ODEs and SDEs.

    Fits ``dPsi ≈ Psi_X @ L`` with ``dPsi = (L psi)(X) = dX . grad psi + 1/2 a : Hess psi``
    (see the module docstring; Klus et al. 2020, Physica D 406:132416, Sec. 3), through the
    truncated SVD of ``Psi_X`` as :class:`koopkit.EDMD`. The eigenvalues are continuous-time
    rates; discrete-time values exist only for an explicit step: :meth:`spectrum` (``dt``),
    :meth:`koopman_matrix` (``dt``), :meth:`discrete_eigenvalues` (``dt``).

    Parameters
    ----------
    dictionary : Dictionary, default Identity()
        Observables with analytic derivatives (``jacobian``, and ``hessian`` for SDEs):
        :class:`~koopkit.dictionaries.Identity`, :class:`~koopkit.dictionaries.Polynomial`,
        :class:`~koopkit.dictionaries.RBF`, :class:`~koopkit.dictionaries.RandomFourier`, a
        :class:`~koopkit.dictionaries.Concat` of them. A clone is fitted (``dictionary_``).
    rank : int, float, or None, default None
        Truncation of the SVD of ``Psi_X`` (rules of :mod:`koopkit.linalg`; ``None``: every
        numerically nonzero direction, as in EDMD).
    regularization : float, default 0.0
        Tikhonov ``alpha``: ``L = (G + alpha I)^{-1} A`` with ``G = Psi_X^T Psi_X / m`` and
        ``A = Psi_X^T dPsi / m``.
    fd_order : int, default 4
        Order of accuracy of the finite differences when ``fit`` gets ODE trajectories and
        ``dt`` instead of ``dX`` (error ``O(dt^fd_order)``;
        :func:`koopkit.finite_differences.finite_difference`).
    stochastic : bool, default False
        Whether trajectories given with ``dt`` are sample paths of an SDE. Then the drift (and,
        without ``sigma``, the diffusion ``a``) are the Kramers–Moyal estimates from the
        increments instead of finite differences, which would amplify the noise.

    Attributes
    ----------
    generator_matrix_ : array of shape (p, p)
        ``L`` with ``dPsi ≈ Psi_X @ L`` (row convention, like ``EDMD.koopman_matrix_``). For a
        linear ODE ``dx/dt = A x`` and the identity dictionary it is ``A.T``.
    continuous_eigenvalues_ : array of shape (r,), complex
        Eigenvalues of the generator: **continuous-time** rates ``omega`` (1 / time unit),
        ordered by real part (slowest decay first), then by ``|Im|``, conjugate pairs together.
        The Koopman operator of a step ``dt`` has the eigenvalues ``exp(omega dt)``.
    modes_ : array of shape (n_features, r), complex
        Koopman modes: ``x ≈ Re(modes_ @ phi(x))`` (from the dictionary's ``state_matrix_``
        when it contains the state, else least squares on the training states).
    amplitudes_ : array of shape (r,), complex
        Eigenfunction values at the first training state.
    singular_values_ : array of shape (r,)
        Kept singular values of ``Psi_X``.
    rank_ : int
        Kept rank ``r``.
    dictionary_ : Dictionary
        The fitted dictionary.
    n_features_in_ : int
        State dimension ``n``.

    Notes
    -----
    Real data only (complex states raise a ``ValueError``). numpy in gives numpy out, torch in
    gives torch out (tensors are detached). pykoopman's continuous-time Koopman is EDMD with
    ``log(lambda) / dt``: :class:`koopkit.EDMD` with :meth:`~koopkit.EDMD.continuous_eigenvalues`
    is that route here; gEDMD uses the derivatives instead of a finite step.

    Examples
    --------
    >>> import numpy as np
    >>> from koopkit import GeneratorEDMD
    >>> from koopkit.dictionaries import Polynomial
    >>> from koopkit.systems import SlowManifold
    >>> system = SlowManifold(mu=-0.1, lam=-1.0)
    >>> X = np.random.default_rng(0).uniform(-1, 1, size=(50, 2))
    >>> model = GeneratorEDMD(Polynomial(2)).fit(X, system.vector_field(0, X))
    >>> all(np.abs(model.continuous_eigenvalues_ - w).min() < 1e-10 for w in (-0.1, -1, -0.2))
    True
    """

    def __init__(
        self,
        dictionary=None,
        rank=None,
        regularization: float = 0.0,
        fd_order: int = 4,
        stochastic: bool = False,
    ):
        self.dictionary = dictionary
        self.rank = rank
        self.regularization = regularization
        self.fd_order = fd_order
        self.stochastic = stochastic

    # ------------------------------------------------------------------ fitting
    def _derivative_data(self, X, dX, dt, sigma):
        """``(ops, states (m, n), drift (m, n), a (m, n, n) or None)`` from the fit arguments."""
        for A in ([X] if not isinstance(X, (list, tuple)) else X) + (
            [] if dX is None or isinstance(dX, (list, tuple)) else [dX]
        ):
            refuse_sparse(A, "GeneratorEDMD")
        first = X[0] if isinstance(X, (list, tuple)) and len(X) else X
        ops = ops_for(first)
        if ops.complex_data:
            raise ValueError(
                "Complex data not supported: GeneratorEDMD needs real states; pass the real "
                "and imaginary parts stacked as features"
            )
        blocks, layout = _blocks(ops, X, "X")
        n = int(blocks[0].shape[1])
        a = None
        if dX is not None:
            if dt is not None:
                raise ValueError("give the derivatives dX or the time step dt, not both")
            d_blocks, _ = _blocks(ops, dX, "dX")
            shapes = [tuple(b.shape) for b in blocks]
            if [tuple(b.shape) for b in d_blocks] != shapes:
                raise ValueError(
                    "X and dX must have the same shape (dX[i] is the time derivative, or the "
                    f"drift, at X[i]); got {shapes} and {[tuple(b.shape) for b in d_blocks]}"
                )
            states, drift = ops.concat(blocks), ops.concat(d_blocks)
        elif dt is None:
            raise ValueError(
                "GeneratorEDMD needs the time derivatives, fit(X, dX), or trajectories sampled "
                "every dt, fit(X, dt=...), to estimate them"
            )
        else:
            dt = _check_dt(dt)
            if self.stochastic:
                short = min(int(b.shape[0]) for b in blocks)
                if short < 2:
                    raise ValueError(
                        "the Kramers-Moyal estimates need at least 2 snapshots per trajectory, "
                        f"got {short} sample(s)"
                    )
                increments = ops.concat([b[1:] - b[:-1] for b in blocks])
                states = ops.concat([b[:-1] for b in blocks])
                drift = increments / dt
                if sigma is None:
                    a = increments[:, :, None] * increments[:, None, :] / dt
            else:
                if sigma is not None:
                    raise ValueError(
                        "sigma (an SDE's noise) with trajectories needs stochastic=True, so "
                        "that the drift is estimated from the increments; or pass the drift "
                        "as dX"
                    )
                order = _check_order(self.fd_order)
                states = ops.concat(blocks)
                if layout == "batch":  # equal lengths: one pass over the (n_traj, T, n) array
                    stacked = ops.concat([b[None] for b in blocks])
                    drift = finite_difference(stacked, dt, order).reshape(states.shape)
                else:
                    drift = ops.concat([finite_difference(b, dt, order) for b in blocks])
        if not ops.all_finite(drift):
            raise ValueError("dX contains NaN or Inf; expected finite derivatives")
        m = int(states.shape[0])
        if sigma is None and self.stochastic and dX is not None:
            raise ValueError(
                "stochastic=True with the drift dX needs sigma (the noise coefficient) for the "
                "second-order term; or pass trajectories with dt for its Kramers-Moyal estimate"
            )
        if sigma is not None:
            a = self._diffusion_matrix(ops, sigma, states, n, m)
        return ops, states, drift, a

    @staticmethod
    def _diffusion_matrix(ops, sigma, states, n, m):
        """``a = sigma sigma^T`` at the samples, shape (m, n, n)."""
        if callable(sigma):
            sigma = sigma(ops.to_numpy(states))
        S = ops.asarray(sigma)
        if S.ndim == 2 and S.shape[0] == n:
            a = S @ S.T  # constant: one (n, n) matrix seen by every sample, not m copies
            return a.expand(m, n, n) if is_torch(a) else np.broadcast_to(a, (m, n, n))
        if S.ndim == 3 and S.shape[0] == m and S.shape[1] == n:
            if not ops.all_finite(S):
                raise ValueError("sigma contains NaN or Inf; expected finite values")
            return S @ S.transpose(-1, -2) if is_torch(S) else S @ np.swapaxes(S, -1, -2)
        raise ValueError(
            f"sigma must be the noise coefficient of shape ({n}, d) (constant) or ({m}, {n}, d) "
            f"(one per sample), or a callable returning the latter; got shape {tuple(S.shape)}"
        )

    def _generator_features(self, ops, states, drift, a):
        """``dPsi = J b + 1/2 a : H`` at the samples, shape (m, p), in chunks of rows."""
        out = []
        n, p = states.shape[1], self.dictionary_.n_output_features_
        chunk = int(min(max(_CHUNK_ENTRIES // (p * n**3), 64), 2**16))
        for start in range(0, states.shape[0], chunk):
            x, b = states[start : start + chunk], drift[start : start + chunk]
            dpsi = _einsum("spn,sn->sp", ops.asarray(self.dictionary_.jacobian(x)), b)
            if a is not None:
                H = ops.asarray(self.dictionary_.hessian(x))
                dpsi = dpsi + 0.5 * _einsum("spij,sij->sp", H, a[start : start + chunk])
            out.append(dpsi)
        return ops.concat(out)

    @np.errstate(over="ignore", invalid="ignore", divide="ignore")
    def fit(self, X, dX=None, *, dt: float | None = None, sigma=None) -> GeneratorEDMD:
        """Fit the generator to states and their time derivatives (or drift and diffusion).

        Parameters
        ----------
        X : array of shape (m, n), (n_traj, T, n), or list of arrays (T_i, n)
            States, samples as rows: any samples with ``dX``; trajectories sampled every
            ``dt`` without it.
        dX : array of the shape of ``X``, optional
            Time derivatives ``dx/dt`` at the rows of ``X`` (for an SDE: the drift ``b``).
        dt : float, optional
            Time step of the trajectories ``X``, when ``dX`` is not given: the derivatives are
            finite differences of order ``fd_order`` (``stochastic=False``) or Kramers–Moyal
            estimates from the increments (``stochastic=True``; the last snapshot of each
            trajectory then has no increment and is not used).
        sigma : array of shape (n, d) or (m, n, d), or callable, optional
            Noise coefficient of the SDE ``dX = b dt + sigma dW``: constant, one per sample
            (the rows used for the fit), or ``sigma(states)`` returning ``(m, n, d)``. Adds the
            second-order term ``1/2 (sigma sigma^T) : Hess psi``. Without it, an SDE fitted
            from trajectories (``stochastic=True``) uses the Kramers–Moyal diffusion.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            For NaN/Inf, complex data, mismatched ``X`` and ``dX``, neither or both of ``dX``
            and ``dt``, a non-positive ``dt``, ``fd_order < 1``, trajectories shorter than
            the stencil, a ``sigma`` of the wrong shape, or a dictionary without derivatives.
        """
        if not (isinstance(self.regularization, numbers.Real) and self.regularization >= 0):
            raise ValueError(f"regularization must be >= 0, got {self.regularization!r}")
        if not isinstance(self.stochastic, (bool, np.bool_)):
            raise ValueError(f"stochastic must be True or False, got {self.stochastic!r}")
        _check_order(self.fd_order)
        ops, states, drift, a = self._derivative_data(X, dX, dt, sigma)
        dictionary = Identity() if self.dictionary is None else as_dictionary(self.dictionary)
        self.dictionary_ = clone(dictionary).fit(states)
        psi_x = ops.asarray(self.dictionary_.transform(states))
        dpsi = self._generator_features(ops, states, drift, a)
        if not (ops.all_finite(psi_x) and ops.all_finite(dpsi)):
            raise ValueError(
                f"the {type(dictionary).__name__} dictionary or its derivatives are NaN or Inf "
                "on these data (overflow at this scale?); rescale X or choose another dictionary"
            )
        rank = -1 if self.rank is None else self.rank
        U, s, Vh = truncated_svd(psi_x, rank, "svd", check_finite=False)
        m = psi_x.shape[0]
        s_inv = 1 / (s + (m * self.regularization) / s)
        projected = (U.T @ dpsi) * s_inv[:, None]  # (r, p): S^-1 U^T dPsi
        V = Vh.T
        self.generator_matrix_ = V @ projected
        self.rank_ = int(s.shape[0])
        self.singular_values_ = s
        B = self.dictionary_.state_matrix_
        readout = (U.T @ states) / s[:, None] if B is None else V.T @ ops.asarray(B)
        self._finish(ops, states, projected @ V, V, readout)
        return self

    def _finish(self, ops, states, reduced, lift, readout):
        """Eigen-decomposition of the reduced generator (r, r) on ``z = psi(x) @ lift``."""
        omega, eta = eig_checked(ops, reduced, "reduced generator")
        order = _sort_rates(ops.to_numpy(omega))
        order = ops.from_numpy(order) if ops.name == "torch" else order
        eta = eta[:, order]
        self._ops = ops
        self._reduced, self._lift, self._readout = reduced, lift, readout
        self.continuous_eigenvalues_ = omega[order]
        self._eigvecs = ops.ascomplex(lift) @ eta
        self.n_features_in_ = int(states.shape[1])
        self.modes_ = ops.lstsq(eta, ops.ascomplex(readout)).T
        self.amplitudes_ = self._eigenfunctions(states[:1])[0]
        check_finite_result(
            ops, "generator model", self.continuous_eigenvalues_, self.modes_, self.amplitudes_
        )

    # ------------------------------------------------------------------ using the model
    def _check_is_fitted(self, attribute: str = "continuous_eigenvalues_") -> None:
        super()._check_is_fitted(attribute)

    def _check_states(self, X, name="X"):
        X_ops = self._ops.asarray(X)
        n = self.n_features_in_
        if X_ops.ndim != 2 or X_ops.shape[1] != n:
            raise ValueError(f"{name} must have shape (m, {n}), got {tuple(X_ops.shape)}")
        if not self._ops.all_finite(X_ops):
            raise ValueError(f"{name} contains NaN or Inf; expected finite values")
        return X_ops

    def _eigenfunctions(self, X):
        return self._ops.ascomplex(self.dictionary_.transform(X)) @ self._eigvecs

    def eigenfunctions(self, X):
        """Generator eigenfunctions at states ``X``.

        Parameters
        ----------
        X : array of shape (m, n_features)

        Returns
        -------
        array of shape (m, r), complex
            Column ``j`` holds ``phi_j(X)``, with ``L phi_j ≈ continuous_eigenvalues_[j] phi_j``.
        """
        self._check_is_fitted()
        return _convert_like(self._ops, self._eigenfunctions(self._check_states(X)), X)

    def drift(self, X):
        """The vector field (drift) identified from the generator: ``b(x) ≈ psi(x) L B``.

        The generator applied to the coordinate functions ``x_i`` is the drift ``b_i``, so a
        dictionary that contains the state (``state_matrix_`` ``B``) identifies the system
        (Klus et al. 2020, Sec. 4, the link with SINDy).

        Parameters
        ----------
        X : array of shape (m, n_features)

        Returns
        -------
        array of shape (m, n_features)

        Raises
        ------
        ValueError
            If the dictionary does not contain the state (no ``state_matrix_``).
        """
        self._check_is_fitted()
        B = self.dictionary_.state_matrix_
        if B is None:
            raise ValueError(
                "the drift needs a dictionary that contains the state (a state_matrix_), e.g. "
                "Polynomial or Concat([Identity(), ...])"
            )
        ops = self._ops
        psi = ops.asarray(self.dictionary_.transform(self._check_states(X)))
        return _convert_like(ops, psi @ self.generator_matrix_ @ ops.asarray(B), X)

    def discrete_eigenvalues(self, dt: float):
        """Eigenvalues ``exp(omega dt)`` of the Koopman operator of a step ``dt``, shape (r,)."""
        self._check_is_fitted()
        dt = _check_dt(dt)
        ops = self._ops
        return ops.from_numpy(np.exp(ops.to_numpy(self.continuous_eigenvalues_) * dt))

    def koopman_matrix(self, dt: float):
        """Koopman matrix of a step ``dt``, ``expm(generator_matrix_ dt)``, shape (p, p).

        Row convention as ``EDMD.koopman_matrix_``: ``psi(x(t + dt)) ≈ psi(x(t)) @ K``.
        """
        self._check_is_fitted()
        dt = _check_dt(dt)
        return self._expm(self.generator_matrix_ * dt)

    def _expm(self, A):
        ops = self._ops
        if ops.name == "torch":
            return ops.torch.linalg.matrix_exp(A)
        return scipy.linalg.expm(A)

    def spectrum(self, dt: float) -> Spectrum:
        """The spectrum of the time-``dt`` Koopman operator as a numpy Spectrum record.

        Parameters
        ----------
        dt : float
            Time step: the record holds the discrete eigenvalues ``exp(omega dt)``, the modes,
            the amplitudes and ``dt`` (so its ``continuous_eigenvalues`` are ``omega`` again,
            up to the branch of the logarithm when ``|Im omega| dt > pi``).
        """
        self._check_is_fitted()
        to_np = self._ops.to_numpy
        return Spectrum(
            eigenvalues=to_np(self.discrete_eigenvalues(dt)),
            modes=to_np(self.modes_),
            amplitudes=to_np(self.amplitudes_),
            dt=dt,
        )

    def predict(self, x0, n_steps: int, dt: float):
        """States at ``t = k dt``, ``k = 0 .. n_steps``, from the generator model.

        ``z_k = z_0 expm(R dt)^k`` in the reduced coordinates ``z = psi(x) V`` and ``x_k = z_k C``
        (reduced generator ``R``, read-out ``C``): the modal sum
        ``Re(modes_ @ (exp(omega t) * phi(x0)))`` without inverting the eigenvectors.

        Parameters
        ----------
        x0 : array of shape (n_features,) or (batch, n_features)
        n_steps : int
        dt : float
            Time between the returned states.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Same array kind as ``x0``.
        """
        self._check_is_fitted()
        if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0:
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        dt = _check_dt(dt)
        ops = self._ops
        x = ops.asarray(x0)
        single = x.ndim == 1
        x = x[None, :] if single else x
        n = self.n_features_in_
        if x.ndim != 2 or x.shape[1] != n:
            raise ValueError(f"x0 must have shape ({n},) or (batch, {n}), got {tuple(x.shape)}")
        if not ops.all_finite(x):
            raise ValueError("x0 contains NaN or Inf; expected finite values")
        step = self._expm(self._reduced * dt)
        z = ops.asarray(self.dictionary_.transform(x)) @ self._lift
        states = [(z @ self._readout)[:, None]]
        for _ in range(int(n_steps)):
            z = z @ step
            states.append((z @ self._readout)[:, None])
        out = ops.concat(states, axis=1)
        return _convert_like(ops, out[0] if single else out, x0)


def _sort_rates(omega: np.ndarray) -> np.ndarray:
    """Order of continuous-time eigenvalues: real part descending, then ``|Im|``, pairs together.

    ``exp(omega tau)`` with ``tau = 1 / max|omega|`` maps the rates into an annulus with phases
    in ``[-1, 1]``, where :func:`~koopkit.spectrum.sort_eigenvalues` (modulus, then phase, pairs
    kept together) is this order.
    """
    scale = float(np.abs(omega).max()) if omega.size else 0.0
    return sort_eigenvalues(np.exp(omega / scale) if scale > 0 else omega + 1)
