"""The one array-like → float64 matrix coercion of the evaluation wing."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["as_matrix", "as_matrix_pair", "subsample"]


def as_matrix(x: Any, name: str, flatten: bool = False, finite: bool = True) -> np.ndarray:
    """``x`` (numpy, torch or nested lists) as a float64 ``(n_samples, n_features)`` array.

    Parameters
    ----------
    x : array-like of shape (n_samples, n_features), or (n_samples, ...) with ``flatten``
    name : str
        Named in error messages.
    flatten : bool, default False
        Flatten every sample to a row (images ``(n, C, H, W)`` → ``(n, C·H·W)``).
    finite : bool, default True
        Refuse NaN and Inf.

    Returns
    -------
    ndarray of shape (n_samples, n_features), float64

    Raises
    ------
    ValueError
        A shape other than the expected one, no samples, no features, or non-finite values.
    """
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        x = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be a real numeric array, got {type(x).__name__}") from err
    if flatten and x.ndim >= 2:
        x = x.reshape(x.shape[0], -1)
    if x.ndim != 2 or x.shape[0] < 1 or x.shape[1] < 1:
        expected = "(n_samples, ...)" if flatten else "(n_samples, n_features)"
        raise ValueError(
            f"{name} must have shape {expected} with at least one sample and one feature, "
            f"got {x.shape}"
        )
    if finite and not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


def as_matrix_pair(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Two sample sets as float64 matrices with the same number of features.

    Returns
    -------
    x, y : ndarray of shape (n, d) and (m, d)

    Raises
    ------
    ValueError
        As :func:`as_matrix`, or when the feature counts differ.
    """
    x, y = as_matrix(x, "x"), as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"x and y must have the same n_features, got {x.shape[1]} and {y.shape[1]}"
        )
    return x, y


def subsample(x: np.ndarray, max_samples: int | None, rng: np.random.Generator) -> np.ndarray:
    """At most ``max_samples`` rows of ``x`` drawn without replacement (all rows when ``None``)."""
    if max_samples is None or x.shape[0] <= max_samples:
        return x
    return x[rng.choice(x.shape[0], size=max_samples, replace=False)]
