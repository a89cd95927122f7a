"""The :class:`Spectrum` record: eigenvalues, modes and amplitudes of a linear model.

Eigenvalues are **discrete-time** (per step) everywhere in koopkit. Continuous-time values
need an explicit step ``dt``: ``omega = log(lambda) / dt`` (principal logarithm), whose real part
is the growth rate (1 / time unit) and whose imaginary part over ``2 pi`` is the frequency
(cycles / time unit).

Ordering: by modulus, largest first, then by the absolute value of the phase, smallest first;
within a conjugate pair the member with positive imaginary part comes first, so pairs stay
adjacent (:func:`sort_eigenvalues`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "Spectrum",
    "sort_eigenvalues",
    "continuous_eigenvalues",
    "frequencies",
    "growth_rates",
]


def sort_eigenvalues(eigenvalues) -> np.ndarray:
    """Indices ordering eigenvalues by modulus (descending) then phase, pairs kept together.

    Parameters
    ----------
    eigenvalues : array-like of shape (r,), complex

    Returns
    -------
    ndarray of shape (r,), int
        Permutation: modulus descending, then ``|arg|`` ascending, then positive imaginary
        part first. The two members of a conjugate pair (equal up to round-off) are matched
        first and sorted on the keys of the member with the positive imaginary part, so
        round-off can neither separate them nor swap their order. Moduli (relative to the
        largest) and phases that differ by less than ``1e-10`` count as equal, so eigenvalues
        of one modulus are ordered by phase whatever their round-off.
    """
    ev = np.asarray(eigenvalues, dtype=complex)
    canonical = ev.copy()
    scale = float(np.abs(ev).max()) if ev.size else 0.0
    tiny = 1e-12 * scale
    positive = [i for i in np.argsort(-ev.imag, kind="stable") if ev.imag[i] > tiny]
    negative = {int(i) for i in np.flatnonzero(ev.imag < -tiny)}
    for i in positive:  # each upper member takes the nearest unmatched lower one as its partner
        if not negative:
            break
        j = min(negative, key=lambda k: abs(ev[k] - np.conj(ev[i])))
        negative.discard(j)
        canonical[j] = np.conj(ev[i])
    # Values equal up to round-off share a key: gaps below the tolerance do not split a group.
    modulus_key = -_cluster(-np.abs(canonical) / (scale or 1.0), 1e-10)
    phase_key = _cluster(np.abs(np.angle(canonical)), 1e-10)
    sign_key = np.where(np.abs(ev.imag) > tiny, -np.sign(ev.imag), 0.0)
    # Repeated pairs interleave as (z, conj z, z, conj z): number equal keys by occurrence.
    occurrence = np.zeros(ev.shape[0], dtype=int)
    seen: dict[tuple[float, float, float], int] = {}
    for i, key in enumerate(zip(modulus_key, phase_key, sign_key, strict=True)):
        occurrence[i] = seen.get(key, 0)
        seen[key] = occurrence[i] + 1
    # lexsort: last key is primary.
    return np.lexsort((sign_key, occurrence, phase_key, -modulus_key))


def _cluster(values: np.ndarray, tol: float) -> np.ndarray:
    """Replace each value by the smallest of its group: sorted values closer than ``tol`` chain."""
    order = np.argsort(values, kind="stable")
    keys = np.empty_like(values)
    start = None
    previous = None
    for i in order:
        if previous is None or values[i] - previous > tol:
            start = values[i]
        keys[i] = start
        previous = values[i]
    return keys


def _check_dt(dt) -> float:
    if dt is None:
        raise ValueError(
            "continuous-time quantities need a time step: pass dt (a positive float), "
            "or build the Spectrum with dt"
        )
    dt = float(dt)
    if not np.isfinite(dt) or dt <= 0:
        raise ValueError(f"dt must be a positive finite number, got {dt}")
    return dt


def continuous_eigenvalues(eigenvalues, dt: float) -> np.ndarray:
    """Continuous-time eigenvalues ``log(lambda) / dt`` (principal branch), shape ``(r,)``."""
    dt = _check_dt(dt)
    with np.errstate(divide="ignore"):
        return np.log(np.asarray(eigenvalues, dtype=complex)) / dt


def frequencies(eigenvalues, dt: float) -> np.ndarray:
    """Frequencies ``Im(log lambda) / (2 pi dt)`` in cycles per time unit, shape ``(r,)``."""
    return continuous_eigenvalues(eigenvalues, dt).imag / (2.0 * np.pi)


def growth_rates(eigenvalues, dt: float) -> np.ndarray:
    """Growth rates ``Re(log lambda) / dt = log|lambda| / dt`` per time unit, shape ``(r,)``."""
    return continuous_eigenvalues(eigenvalues, dt).real


@dataclass(frozen=True, eq=False)
class Spectrum:
    """Spectral summary of a fitted linear model (always numpy).

    Parameters
    ----------
    eigenvalues : ndarray of shape (r,), complex
        Discrete-time eigenvalues (per step).
    modes : ndarray of shape (n_features, r), complex, optional
        Mode ``j`` is column ``j`` (PyDMD's layout).
    amplitudes : ndarray of shape (r,), complex, optional
        Mode amplitudes of the initial state.
    dt : float, optional
        Time step between snapshots; needed for continuous-time quantities.

    Notes
    -----
    Records compare by identity (``==`` on arrays has no single truth value); compare the
    fields with ``numpy.testing`` instead.
    """

    eigenvalues: np.ndarray
    modes: np.ndarray | None = None
    amplitudes: np.ndarray | None = None
    dt: float | None = None

    def __post_init__(self):
        ev = np.asarray(self.eigenvalues, dtype=complex).reshape(-1)
        object.__setattr__(self, "eigenvalues", ev)
        r = ev.shape[0]
        if self.modes is not None:
            modes = np.asarray(self.modes)
            if modes.ndim != 2 or modes.shape[1] != r:
                raise ValueError(f"modes must have shape (n_features, {r}), got {modes.shape}")
            object.__setattr__(self, "modes", modes)
        if self.amplitudes is not None:
            amps = np.asarray(self.amplitudes, dtype=complex).reshape(-1)
            if amps.shape[0] != r:
                raise ValueError(f"amplitudes must have shape ({r},), got {amps.shape}")
            object.__setattr__(self, "amplitudes", amps)
        if self.dt is not None:
            object.__setattr__(self, "dt", _check_dt(self.dt))

    def __len__(self) -> int:
        return self.eigenvalues.shape[0]

    @property
    def continuous_eigenvalues(self) -> np.ndarray:
        """``log(lambda) / dt``, shape ``(r,)``; needs ``dt``."""
        return continuous_eigenvalues(self.eigenvalues, self.dt)

    @property
    def frequencies(self) -> np.ndarray:
        """Frequencies in cycles per time unit, shape ``(r,)``; needs ``dt``."""
        return frequencies(self.eigenvalues, self.dt)

    @property
    def growth_rates(self) -> np.ndarray:
        """Growth rates ``log|lambda| / dt``, shape ``(r,)``; needs ``dt``."""
        return growth_rates(self.eigenvalues, self.dt)

    @property
    def periods(self) -> np.ndarray:
        """Periods ``1 / |frequency|`` (inf for real eigenvalues), shape ``(r,)``; needs ``dt``."""
        with np.errstate(divide="ignore"):
            return 1.0 / np.abs(self.frequencies)

    def sorted(self) -> Spectrum:
        """Copy ordered as :func:`sort_eigenvalues` (modulus, then phase, pairs together)."""
        order = sort_eigenvalues(self.eigenvalues)
        return Spectrum(
            eigenvalues=self.eigenvalues[order],
            modes=None if self.modes is None else self.modes[:, order],
            amplitudes=None if self.amplitudes is None else self.amplitudes[order],
            dt=self.dt,
        )

    def with_dt(self, dt: float) -> Spectrum:
        """Copy with the time step set to ``dt``."""
        return Spectrum(self.eigenvalues, self.modes, self.amplitudes, dt)
