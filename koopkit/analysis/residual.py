"""Numeric finite-dimensional representability: how linear is the one-step map in given coordinates?

For snapshot pairs ``(x_i, y_i)`` lifted to coordinates ``Z0 = ψ(X)``, ``Z1 = ψ(Y)`` the best
linear one-step map is the least-squares ``A = argmin ‖Z1 − Z0 A‖_F`` (the EDMD matrix of
Williams, Kevrekidis & Rowley 2015, Eq. 9, in the row convention) and its relative residual

``ρ = ‖Z1 − Z0 A‖_F / ‖Z1‖_F``

is zero exactly when the span of the coordinates is invariant on the data (a finite Koopman
closure) and grows with how far it is from one. :func:`residual_curve` reports ``ρ`` for the
leading ``d`` principal directions of the lifted data, ``d = 1, 2, …``, for an EDMD dictionary,
an autoencoder's encoder or any callable, and :func:`plot_residual_curve` draws it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["linear_residual", "residual_curve", "ResidualCurve", "plot_residual_curve"]


def _to_numpy(a: Any, name: str) -> np.ndarray:
    if "torch" in sys.modules:
        import torch

        if isinstance(a, torch.Tensor):
            a = a.detach().cpu().numpy()
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D of shape (n_samples, n_features), got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} contains NaN or Inf; expected finite values")
    return a


def linear_residual(Z0: Any, Z1: Any) -> float:
    """Relative residual of the best linear one-step map ``Z1 ≈ Z0 A``.

    Parameters
    ----------
    Z0, Z1 : array-like of shape (n_samples, d)
        Lifted coordinates of the states and of their successors (rows are samples; numpy or
        torch).

    Returns
    -------
    float
        ``min_A ‖Z1 − Z0 A‖_F / ‖Z1‖_F`` in ``[0, 1]`` (computed in float64).
    """
    z0, z1 = _to_numpy(Z0, "Z0"), _to_numpy(Z1, "Z1")
    if z0.shape != z1.shape:
        raise ValueError(f"Z0 and Z1 must have the same shape, got {z0.shape} and {z1.shape}")
    norm = np.linalg.norm(z1)
    if norm == 0:
        raise ValueError("Z1 is identically zero; the relative residual is undefined")
    coef, *_ = np.linalg.lstsq(z0, z1, rcond=None)
    return float(np.linalg.norm(z1 - z0 @ coef) / norm)


@dataclass
class ResidualCurve:
    """Relative linear residual as a function of the number of lifted coordinates.

    Attributes
    ----------
    dims : ndarray of shape (k,), int
        Numbers ``d`` of leading principal directions kept.
    residuals : ndarray of shape (k,)
        :func:`linear_residual` in those ``d`` coordinates.
    singular_values : ndarray of shape (p,)
        Singular values of the lifted states ``ψ(X)``.
    label : str
        Name used in plots.
    """

    dims: np.ndarray
    residuals: np.ndarray
    singular_values: np.ndarray
    label: str = ""


def _lift(transform: Any, X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if transform is None:
        return X, Y
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(transform, torch.nn.Module):
        encode = transform.encode if hasattr(transform, "encode") else transform
        ref = next(transform.parameters(), None)
        dtype = ref.dtype if ref is not None else torch.float32
        device = ref.device if ref is not None else "cpu"
        with torch.no_grad():
            return tuple(
                encode(torch.as_tensor(a, dtype=dtype, device=device)).cpu().numpy().astype(float)
                for a in (X, Y)
            )
    if hasattr(transform, "transform") and hasattr(transform, "fit"):
        if not hasattr(transform, "n_features_in_"):
            transform.fit(X)
        return np.asarray(transform.transform(X)), np.asarray(transform.transform(Y))
    if callable(transform):
        return np.asarray(transform(X)), np.asarray(transform(Y))
    raise ValueError(
        "transform must be None, a dictionary with fit/transform, a torch module (an encoder or "
        f"a KoopmanAutoencoder) or a callable, got {type(transform)}"
    )


def residual_curve(
    X: Any,
    Y: Any,
    dims: Sequence[int] | None = None,
    transform: Callable | Any = None,
    label: str = "",
) -> ResidualCurve:
    """Linear residual of the leading ``d`` lifted coordinates, for each ``d`` in ``dims``.

    The lifted states ``Ψ_X = ψ(X)`` are reduced by a truncated SVD, ``Ψ_X ≈ U_d S_d V_dᵀ``, and
    :func:`linear_residual` is evaluated on ``(Ψ_X V_d, Ψ_Y V_d)``. A dictionary whose span is
    Koopman-invariant gives zero at its dimension; a learned latent that needs more
    coordinates than it has keeps a floor.

    Parameters
    ----------
    X, Y : array-like of shape (n_samples, n_features)
        States and their successors (numpy or torch).
    dims : sequence of int, optional
        Numbers of coordinates (default ``1 … min(n_samples, n_lifted)``).
    transform : optional
        The lift ``ψ``: ``None`` (identity), a :mod:`koopkit.dictionaries` dictionary (fitted on
        ``X`` if not fitted yet), a torch module (an encoder, or a
        :class:`~koopkit.autoencoder.KoopmanAutoencoder`, whose ``encode`` is used), or any
        callable mapping ``(n_samples, n_features)`` to ``(n_samples, p)``.
    label : str, default ""
        Stored for plotting.

    Returns
    -------
    ResidualCurve
    """
    X, Y = _to_numpy(X, "X"), _to_numpy(Y, "Y")
    if X.shape != Y.shape:
        raise ValueError(f"X and Y must have the same shape, got {X.shape} and {Y.shape}")
    px, py = _lift(transform, X, Y)
    px, py = _to_numpy(px, "transform(X)"), _to_numpy(py, "transform(Y)")
    _, s, vt = np.linalg.svd(px, full_matrices=False)
    max_dim = vt.shape[0]
    if dims is None:
        dims = range(1, max_dim + 1)
    dims = np.asarray(list(dims), dtype=int)
    if dims.size == 0 or dims.min() < 1 or dims.max() > max_dim:
        raise ValueError(f"dims must lie in 1..{max_dim} (the rank bound of the lifted data)")
    residuals = np.array([linear_residual(px @ vt[:d].T, py @ vt[:d].T) for d in dims])
    return ResidualCurve(dims=dims, residuals=residuals, singular_values=s, label=label)


def plot_residual_curve(curves: ResidualCurve | Sequence[ResidualCurve], ax: Any = None) -> Any:
    """Plot residual curves (log scale) against the number of coordinates.

    Parameters
    ----------
    curves : ResidualCurve or sequence of them
        From :func:`residual_curve`; their ``label`` names the legend entry.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into (a new figure otherwise).

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib.pyplot as plt

    if isinstance(curves, ResidualCurve):
        curves = [curves]
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    floor = np.finfo(float).eps
    for curve in curves:
        ax.semilogy(
            curve.dims, np.maximum(curve.residuals, floor), marker="o", label=curve.label or None
        )
    ax.set_xlabel("number of coordinates d")
    ax.set_ylabel("relative linear residual")
    ax.grid(True, which="both", alpha=0.3)
    if any(c.label for c in curves):
        ax.legend()
    return ax
