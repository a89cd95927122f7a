"""Interoperability with PyDMD.

PyDMD stores snapshots as **columns**: its snapshot matrix has shape ``(n_features, T)``.
koopkit stores them as **rows**, ``(T, n_features)``. The one-time transpose is all it takes::

    pydmd.DMD(svd_rank=r).fit(X.T)      # X of shape (T, n_features)
    koopkit.DMD(rank=r).fit(X)

Both libraries then agree on everything that is not a layout: the eigenvalues (discrete
time), the modes (columns of an ``(n_features, r)`` array) and the amplitudes. PyDMD is an
optional dependency: it is only imported by code that is handed a PyDMD object.
"""

from __future__ import annotations

import numpy as np

from koopkit.spectrum import Spectrum

__all__ = ["from_pydmd"]


def from_pydmd(model, dt: float | None = None) -> Spectrum:
    """Turn a fitted PyDMD model into a koopkit :class:`~koopkit.spectrum.Spectrum`.

    Parameters
    ----------
    model : pydmd.DMDBase
        Any fitted PyDMD model exposing ``eigs`` (r,), ``modes`` (n_features, r) and
        ``amplitudes`` (r,).
    dt : float, optional
        Time step between snapshots, stored in the record for continuous-time quantities.
        PyDMD's own ``original_time["dt"]`` defaults to 1 whether or not the user set it, so
        it is not read: pass ``dt`` explicitly.

    Returns
    -------
    Spectrum
        Eigenvalues, modes and amplitudes in koopkit's order (modulus, then phase, conjugate
        pairs together; see :func:`koopkit.spectrum.sort_eigenvalues`).

    Raises
    ------
    ValueError
        If ``model`` does not look like a fitted PyDMD model.
    """
    missing = [a for a in ("eigs", "modes", "amplitudes") if not hasattr(model, a)]
    if missing:
        raise ValueError(
            f"expected a PyDMD model with eigs, modes and amplitudes; {type(model).__name__} "
            f"lacks {missing}"
        )
    eigs = model.eigs
    if eigs is None or model.modes is None:
        raise ValueError(f"the PyDMD model {type(model).__name__} is not fitted; call fit first")
    amplitudes = model.amplitudes
    return Spectrum(
        eigenvalues=np.asarray(eigs, dtype=complex),
        modes=np.asarray(model.modes),
        amplitudes=None if amplitudes is None else np.asarray(amplitudes, dtype=complex),
        dt=dt,
    ).sorted()
