"""Shared machinery of the linear Koopman estimators (DMD family, EDMD, kernel EDMD).

- scikit-learn estimators (:class:`BaseEstimator`, a subclass of scikit-learn's),
- input checking and the snapshot-pair layout (:func:`snapshot_pairs`),
- everything that only needs discrete eigenvalues and modes (:class:`SpectralModelMixin`):
  prediction, continuous-time conversions, the :class:`~koopkit.spectrum.Spectrum` record.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.sparse import issparse
from sklearn.base import BaseEstimator as _SklearnBaseEstimator
from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

from koopkit import spectrum as _spectrum
from koopkit._backend import is_complex, is_torch, ops_for


class NotFittedError(_SklearnNotFittedError):
    """Raised when an estimator is used before ``fit``.

    A subclass of scikit-learn's ``NotFittedError`` (hence a ``ValueError`` and an
    ``AttributeError``), so ``except sklearn.exceptions.NotFittedError`` catches it.
    """


# PyDMD keyword arguments and attributes -> what koopkit calls them (errors name the equivalent).
_PYDMD_ARGUMENTS = {
    "svd_rank": "rank=",
    "exact": "method='exact' (or method='projected' for exact=False)",
    "opt": "no equivalent (amplitudes_ are the least-squares fit of the first snapshot)",
}
_PYDMD_ATTRIBUTES = {
    "eigs": "eigenvalues_ (discrete-time; continuous_eigenvalues(dt) for continuous time)",
    "modes": "modes_, shape (n_features, r)",
    "amplitudes": "amplitudes_",
    "atilde": "operator_",
    "dynamics": "predict(x0, n_steps), or eigenvalues_ ** k * amplitudes_ per mode",
    "reconstructed_data": "reconstruct(), samples as rows",
    "plot_eigs": "koopkit.analysis.plotting.plot_eigenvalues(model)",
    "snapshots": "nothing: koopkit models keep what they fitted, not the data (pass it again)",
    "svd_rank": "rank (the requested rule) or rank_ (the rank kept)",
    "frequency": "frequencies(dt)",
    "growth_rate": "growth_rates(dt)",
}


class BaseEstimator(_SklearnBaseEstimator):
    """scikit-learn's ``BaseEstimator``: hyper-parameters in ``__init__`` only,
    ``get_params`` / ``set_params``, ``sklearn.base.clone``, the estimator tags."""

    def _check_is_fitted(self, attribute: str = "eigenvalues_") -> None:
        if attribute not in self.__dict__:
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) before using it"
            )


@dataclass
class PairData:
    """Snapshot pairs ``Y[i] = F(X[i])`` built from trajectories, with the layout they came in.

    For one trajectory or a batch of equal-length ones, ``stack`` (N, n) holds every snapshot
    once and ``X = stack[index_x]``, ``Y = stack[index_y]``: Gram-based estimators then need
    one product ``stack stack^H`` instead of two.
    """

    ops: object
    X: object  # (m, n)
    Y: object  # (m, n)
    first_states: object  # (n_traj, n): the initial state of every trajectory
    layout: str  # "single" | "batch" | "list" | "pairs"
    lengths: list
    stack: object = None  # (N, n) or None
    index_x: object = None  # slice or int array of length m
    index_y: object = None


def refuse_sparse(X, owner: str) -> None:
    """Raise a ``ValueError`` for scipy sparse matrices and sparse tensors (dense data only)."""
    if issparse(X) or getattr(X, "is_sparse", False):
        raise ValueError(
            f"Sparse input is not supported by {owner}; pass a dense array (X.toarray())"
        )


def _check_block(ops, A, what: str, ndim: tuple[int, ...], finite: bool = True) -> None:
    """Clear errors for arrays of the wrong dimension, without features, or not finite."""
    if A.ndim not in ndim:
        raise ValueError(
            f"{what} must be {' or '.join(f'{d}-D' for d in ndim)}, got shape {tuple(A.shape)}"
            + ("; Reshape your data: X.reshape(1, -1) for a single sample" if A.ndim == 1 else "")
        )
    if A.shape[-1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={tuple(A.shape)}) while a minimum of 1 is "
            f"required ({what})."
        )
    if finite and not ops.all_finite(A):
        raise ValueError(f"{what} contains NaN or Inf; expected finite values")


def _layout_hint(shape) -> str:
    """A note for data that look like PyDMD's layout (snapshots as columns)."""
    if len(shape) == 2 and shape[0] < shape[1]:
        return (
            f"; X has {shape[0]} rows (snapshots) and {shape[1]} columns (features): koopkit "
            "stores samples as rows, shape (n_time, n_features). If your snapshots are "
            "columns (PyDMD's layout), pass X.T"
        )
    return ""


def snapshot_pairs(
    X, Y=None, *, allow_complex: bool = True, owner: str = "", check_finite: bool = True
) -> PairData:
    """Turn trajectories (or explicit pairs) into snapshot pairs that never cross trajectories.

    Parameters
    ----------
    X : array of shape (T, n), (n_traj, T, n), or list of arrays of shape (T_i, n)
        One trajectory, a batch of equally long trajectories, or trajectories of different
        lengths; samples are rows. With ``Y``: array of shape (m, n) of current states.
        Torch tensors are detached (no gradients flow through the linear estimators).
    Y : array of shape (m, n), optional
        Successors of the rows of ``X``.
    allow_complex : bool, default True
        If False, complex input raises a ``ValueError`` (instead of ever being cast to real).
    owner : str, optional
        Name of the calling estimator, for error messages.
    check_finite : bool, default True
        Refuse NaN/Inf (one pass over the data); callers that detect them on the way skip it.

    Returns
    -------
    PairData
        ``X`` and ``Y`` of shape ``(m, n)`` in the backend of the input (numpy or torch),
        complex if any input is complex.
    """
    owner = owner or "this estimator"
    candidates = list(X) if isinstance(X, (list, tuple)) else [X]
    if Y is not None:
        candidates.append(Y)
    for a in candidates:
        refuse_sparse(a, owner)
    complex_inputs = [a for a in candidates if is_complex(a)]
    if complex_inputs and not allow_complex:
        raise ValueError(
            f"Complex data not supported: {owner} does not support complex data; pass real "
            "arrays (for example the real and imaginary parts stacked as features)"
        )
    sample = complex_inputs[0] if complex_inputs else (candidates[0] if candidates else X)
    ops = ops_for(sample)
    if Y is not None:
        X, Y = ops.asarray(X), ops.asarray(Y)
        _check_block(ops, X, "X", (2,), check_finite)
        _check_block(ops, Y, "Y", (2,), check_finite)
        if tuple(X.shape) != tuple(Y.shape):
            raise ValueError(
                f"X and Y must have the same shape (m, n); got {tuple(X.shape)} "
                f"and {tuple(Y.shape)}"
            )
        if X.shape[0] < 1:
            raise ValueError("need at least one snapshot pair (X, Y), got none")
        return PairData(ops, X, Y, X, "pairs", [2] * X.shape[0])
    if isinstance(X, (list, tuple)):
        if len(X) == 0:
            raise ValueError("X is an empty list; expected trajectories of shape (T_i, n)")
        trajs = [ops.asarray(x) for x in X]
        for i, t in enumerate(trajs):
            _check_block(ops, t, f"trajectory {i}", (2,), check_finite)
        if len({t.shape[1] for t in trajs}) != 1:
            raise ValueError("all trajectories must have the same number of features n")
        layout = "list"
    else:
        X = ops.asarray(X)
        _check_block(ops, X, "X", (2, 3), check_finite)
        trajs = [X] if X.ndim == 2 else list(X)
        layout = "single" if X.ndim == 2 else "batch"
    lengths = [int(t.shape[0]) for t in trajs]
    if min(lengths) < 2:
        raise ValueError(
            f"every trajectory needs at least 2 snapshots (rows), got {min(lengths)} sample(s)"
            + _layout_hint(tuple(trajs[int(np.argmin(lengths))].shape))
        )
    first = ops.concat([t[:1] for t in trajs])
    if layout == "single":
        T = lengths[0]
        return PairData(ops, X[:-1], X[1:], first, layout, lengths, X, slice(0, T - 1), slice(1, T))
    Xp = ops.concat([t[:-1] for t in trajs])
    Yp = ops.concat([t[1:] for t in trajs])
    if layout == "batch":
        n_traj, T, n = X.shape
        index_x = (np.arange(n_traj)[:, None] * T + np.arange(T - 1)[None, :]).reshape(-1)
        stack = X.reshape(n_traj * T, n)
        return PairData(ops, Xp, Yp, first, layout, lengths, stack, index_x, index_x + 1)
    return PairData(ops, Xp, Yp, first, layout, lengths)


def _convert_like(ops, result, like):
    """Return ``result`` (computed with ``ops``) as the array kind of ``like``."""
    if is_torch(like):
        if is_torch(result):
            return result.to(like.device)
        import torch

        return torch.as_tensor(np.asarray(result), device=like.device)
    return ops.to_numpy(result)


def check_finite_result(ops, what: str, *arrays) -> None:
    """Raise a ``ValueError`` if a fitted quantity is not finite.

    Finite data can still have dynamics that overflow the floating-point range (snapshots that
    grow by a factor 1e300 per step); the estimators then refuse instead of returning NaN/Inf.
    """
    for a in arrays:
        if not ops.all_finite(a):
            raise ValueError(
                f"the fitted {what} is not finite: the data's dynamics (ratios between "
                f"successive snapshots) exceed the range of {ops.real_dtype}; rescale or "
                "normalise the snapshots"
            )


def eig_checked(ops, A, what: str = "reduced operator"):
    """Eigen-decomposition of a finite square matrix, with clear errors instead of LAPACK's.

    The matrix is scaled by an exact power of two towards unit size first (eigenvalues scale,
    eigenvectors do not), since LAPACK's QR iteration can fail to converge on entries near the
    floating-point limits.

    Returns
    -------
    eigenvalues : array of shape (r,), complex
    eigenvectors : array of shape (r, r), complex
    """
    check_finite_result(ops, what, A)
    A = ops.ascomplex(A)
    size = float(ops.to_numpy(abs(A).max())) if A.shape[0] else 0.0
    # 2^-e with max |c A| near 1; e clamped so that c itself stays a normal float.
    c = math.ldexp(1.0, -min(max(math.frexp(size)[1], -1021), 1021)) if size > 0 else 1.0
    try:
        eigenvalues, W = ops.eig(A * c)
    except (np.linalg.LinAlgError, RuntimeError) as error:  # torch raises a RuntimeError
        raise ValueError(
            f"the eigenvalues of the {what} did not converge ({error}); the data are too "
            "ill-conditioned for this rank: lower it or rescale the data"
        ) from error
    eigenvalues = eigenvalues / c
    check_finite_result(ops, f"eigenvalues of the {what}", eigenvalues)
    return eigenvalues, W


class SpectralModelMixin:
    """Methods shared by models fitted to eigenvalues ``eigenvalues_`` and modes ``modes_``.

    Subclasses set ``eigenvalues_`` (r,), ``modes_`` (n_features, r), ``_ops`` and
    ``_pairs_layout`` in ``fit``, and define ``_coefficients(x0)`` returning the complex mode
    coefficients of initial states ``x0`` of shape (batch, n_features) as shape (r, batch).
    PyDMD's keyword arguments (``svd_rank=`` ...) raise a ``TypeError`` and its attribute
    names (``eigs``, ``modes``, ``dynamics``, ...) an ``AttributeError``, each naming the
    koopkit equivalent.
    """

    # Estimators define __init__ before this mixin in their MRO, so inspect and scikit-learn
    # still see the __init__ signature, not this one.
    def __new__(cls, *args, **kwargs):
        for name, equivalent in _PYDMD_ARGUMENTS.items():
            if name in kwargs and name not in cls._get_param_names():
                raise TypeError(
                    f"{cls.__name__} got PyDMD's keyword argument {name!r}; "
                    f"koopkit's equivalent is {equivalent}"
                )
        return super().__new__(cls)

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails: names PyDMD users type get a pointer.
        if name in _PYDMD_ATTRIBUTES:
            raise AttributeError(
                f"{type(self).__name__!r} has no attribute {name!r} (a PyDMD name); "
                f"koopkit's equivalent is {_PYDMD_ATTRIBUTES[name]}"
            )
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def predict(self, x0, n_steps: int):
        """Roll the linear model forward from ``x0``.

        ``x_k = Re(modes_ @ (eigenvalues_**k * c(x0)))`` for ``k = 0 .. n_steps``, where ``c``
        are the mode coefficients of ``x0`` (see the estimator's docstring). For a model fitted
        on complex data the real part is not taken.

        Parameters
        ----------
        x0 : array of shape (n_features,) or (batch, n_features)
            Initial state(s).
        n_steps : int
            Number of steps; the output has ``n_steps + 1`` states, the first for ``k = 0``.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Same array kind (numpy / torch and device) as ``x0``; complex for complex models.
        """
        self._check_is_fitted()
        if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 0:
            raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
        ops = self._ops
        x = ops.asarray(x0)
        single = x.ndim == 1
        x = x[None, :] if single else x
        n = self.modes_.shape[0]
        if x.ndim != 2 or x.shape[1] != n:
            raise ValueError(f"x0 must have shape ({n},) or (batch, {n}), got {tuple(x.shape)}")
        if not ops.all_finite(x):
            raise ValueError("x0 contains NaN or Inf; expected finite values")
        out = self._rollout(x, int(n_steps))
        out = out if ops.complex_data else ops.real(out)
        out = out[0] if single else out
        return _convert_like(ops, out, x0)

    def _rollout(self, x, n_steps: int):
        """States ``x_0 .. x_{n_steps}`` from the rows of ``x`` (batch, n): the modal sum,
        shape (batch, n_steps + 1, n), complex."""
        ops = self._ops
        coef = self._coefficients(x)  # (r, batch)
        k = ops.asarray(np.arange(n_steps + 1, dtype=float))
        powers = ops.ascomplex(self.eigenvalues_)[None, :] ** ops.ascomplex(k)[:, None]
        # (batch, steps, r) -> (batch, steps, n)
        z = powers[None, :, :] * coef.T[:, None, :]
        return z @ ops.ascomplex(self.modes_).T

    def continuous_eigenvalues(self, dt: float):
        """Continuous-time eigenvalues ``log(eigenvalues_) / dt``, shape ``(r,)``."""
        self._check_is_fitted()
        ev = self._ops.to_numpy(self.eigenvalues_)
        return self._ops.from_numpy(_spectrum.continuous_eigenvalues(ev, dt))

    def frequencies(self, dt: float):
        """Frequencies ``Im(log lambda) / (2 pi dt)`` in cycles per time unit, shape ``(r,)``."""
        self._check_is_fitted()
        ev = self._ops.to_numpy(self.eigenvalues_)
        return self._ops.from_numpy(_spectrum.frequencies(ev, dt))

    def growth_rates(self, dt: float):
        """Growth rates ``log|lambda| / dt`` per time unit, shape ``(r,)``."""
        self._check_is_fitted()
        ev = self._ops.to_numpy(self.eigenvalues_)
        return self._ops.from_numpy(_spectrum.growth_rates(ev, dt))

    def spectrum(self, dt: float | None = None) -> _spectrum.Spectrum:
        """The fitted spectrum as a numpy :class:`~koopkit.spectrum.Spectrum` record.

        Parameters
        ----------
        dt : float, optional
            Time step; stored in the record to enable its continuous-time properties.
        """
        self._check_is_fitted()
        to_np = self._ops.to_numpy
        amps = getattr(self, "amplitudes_", None)
        return _spectrum.Spectrum(
            eigenvalues=to_np(self.eigenvalues_),
            modes=to_np(self.modes_),
            amplitudes=None if amps is None else to_np(amps),
            dt=dt,
        )
