"""Shared machinery of the linear Koopman estimators (DMD family, EDMD, kernel EDMD).

- scikit-learn style parameters (:class:`BaseEstimator`),
- input checking and the snapshot-pair layout (:func:`snapshot_pairs`),
- everything that only needs discrete eigenvalues and modes (:class:`SpectralModelMixin`):
  prediction, continuous-time conversions, the :class:`~koopkit.spectrum.Spectrum` record.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from koopkit import spectrum as _spectrum
from koopkit._backend import is_torch, ops_for


class NotFittedError(ValueError, AttributeError):
    """Raised when an estimator is used before ``fit`` (a ``ValueError``, as in scikit-learn)."""


class BaseEstimator:
    """Hyper-parameters in ``__init__`` only; ``get_params`` / ``set_params`` as in scikit-learn."""

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p for p in sig.parameters if p != "self"]

    def get_params(self, deep: bool = True) -> dict:
        """Hyper-parameters as a dict (``deep`` descends into parameters that have them)."""
        out = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                out.update({f"{name}__{k}": v for k, v in value.get_params().items()})
            out[name] = value
        return out

    def set_params(self, **params):
        """Set hyper-parameters (``name__sub`` reaches a nested object); returns self."""
        valid = self._param_names()
        for key, value in params.items():
            name, _, sub = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"invalid parameter {name!r} for {type(self).__name__}; "
                    f"valid parameters are {valid}"
                )
            if sub:
                getattr(self, name).set_params(**{sub: value})
            else:
                setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params(deep=False).items())
        return f"{type(self).__name__}({args})"

    def _check_is_fitted(self, attribute: str = "eigenvalues_") -> None:
        if not hasattr(self, attribute):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet; call fit(X) before using it"
            )


@dataclass
class PairData:
    """Snapshot pairs ``Y[i] = F(X[i])`` built from trajectories, with the layout they came in."""

    ops: object
    X: object  # (m, n)
    Y: object  # (m, n)
    first_states: object  # (n_traj, n): the initial state of every trajectory
    layout: str  # "single" | "batch" | "list" | "pairs"
    lengths: list


def _check_block(ops, A, what: str, ndim: tuple[int, ...]):
    if A.ndim not in ndim:
        raise ValueError(
            f"{what} must be {' or '.join(f'{d}-D' for d in ndim)}, got shape {tuple(A.shape)}"
        )
    if not ops.all_finite(A):
        raise ValueError(f"{what} contains NaN or Inf; expected finite values")


def snapshot_pairs(X, Y=None) -> PairData:
    """Turn trajectories (or explicit pairs) into snapshot pairs that never cross trajectories.

    Parameters
    ----------
    X : array of shape (T, n), (n_traj, T, n), or list of arrays of shape (T_i, n)
        One trajectory, a batch of equally long trajectories, or trajectories of different
        lengths; samples are rows. With ``Y``: array of shape (m, n) of current states.
    Y : array of shape (m, n), optional
        Successors of the rows of ``X``.

    Returns
    -------
    PairData
        ``X`` and ``Y`` of shape ``(m, n)`` in the backend of the input (numpy or torch).
    """
    sample = X[0] if isinstance(X, (list, tuple)) and len(X) else X
    ops = ops_for(sample)
    if Y is not None:
        X, Y = ops.asarray(X), ops.asarray(Y)
        _check_block(ops, X, "X", (2,))
        _check_block(ops, Y, "Y", (2,))
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
            _check_block(ops, t, f"trajectory {i}", (2,))
        if len({t.shape[1] for t in trajs}) != 1:
            raise ValueError("all trajectories must have the same number of features n")
        layout = "list"
    else:
        X = ops.asarray(X)
        _check_block(ops, X, "X", (2, 3))
        trajs = [X] if X.ndim == 2 else list(X)
        layout = "single" if X.ndim == 2 else "batch"
    lengths = [int(t.shape[0]) for t in trajs]
    if min(lengths) < 2:
        raise ValueError(f"every trajectory needs at least 2 snapshots (rows), got {min(lengths)}")
    if len(trajs) == 1:
        Xp, Yp = trajs[0][:-1], trajs[0][1:]
    else:
        Xp = ops.concat([t[:-1] for t in trajs])
        Yp = ops.concat([t[1:] for t in trajs])
    first = ops.concat([t[:1] for t in trajs])
    return PairData(ops, Xp, Yp, first, layout, lengths)


def _convert_like(ops, result, like):
    """Return ``result`` (computed with ``ops``) as the array kind of ``like``."""
    if is_torch(like):
        if is_torch(result):
            return result.to(like.device)
        import torch

        return torch.as_tensor(np.asarray(result), device=like.device)
    return ops.to_numpy(result)


class SpectralModelMixin:
    """Methods shared by models fitted to eigenvalues ``eigenvalues_`` and modes ``modes_``.

    Subclasses set ``eigenvalues_`` (r,), ``modes_`` (n_features, r), ``_ops`` and
    ``_pairs_layout`` in ``fit``, and define ``_coefficients(x0)`` returning the complex mode
    coefficients of initial states ``x0`` of shape (batch, n_features) as shape (r, batch).
    """

    def predict(self, x0, n_steps: int):
        """Roll the linear model forward from ``x0``.

        ``x_k = Re(modes_ @ (eigenvalues_**k * c(x0)))`` for ``k = 0 .. n_steps``, where ``c``
        are the mode coefficients of ``x0`` (see the estimator's docstring).

        Parameters
        ----------
        x0 : array of shape (n_features,) or (batch, n_features)
            Initial state(s).
        n_steps : int
            Number of steps; the output has ``n_steps + 1`` states, the first for ``k = 0``.

        Returns
        -------
        array of shape (n_steps + 1, n_features) or (batch, n_steps + 1, n_features)
            Same array kind (numpy / torch and device) as ``x0``.
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
        coef = self._coefficients(x)  # (r, batch)
        k = ops.asarray(np.arange(int(n_steps) + 1, dtype=float))
        powers = ops.ascomplex(self.eigenvalues_)[None, :] ** ops.ascomplex(k)[:, None]
        # (batch, steps, r) -> (batch, steps, n)
        z = powers[None, :, :] * coef.T[:, None, :]
        out = ops.real(z @ ops.ascomplex(self.modes_).T)
        out = out[0] if single else out
        return _convert_like(ops, out, x0)

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
