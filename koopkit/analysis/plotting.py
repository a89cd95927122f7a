"""Spectral plots: eigenvalues against the unit circle, continuous-time spectra, amplitudes.

Every function takes a :class:`~koopkit.spectrum.Spectrum`, a fitted estimator with a
``spectrum()`` method (``DMD``, ``EDMD``, ``KernelEDMD``), or a plain array of discrete-time
eigenvalues, draws on ``ax`` (a new figure with constrained layout when ``None``, so labels
stay inside the saved image) and returns the Axes.
"""

from __future__ import annotations

import numpy as np

from koopkit.spectrum import Spectrum

__all__ = ["plot_eigenvalues", "plot_continuous_spectrum", "plot_amplitudes"]


def _as_spectrum(source, dt=None) -> Spectrum:
    if isinstance(source, Spectrum):
        spec = source
    elif hasattr(source, "spectrum") and callable(source.spectrum):
        spec = source.spectrum()
    else:
        values = source.detach().cpu().numpy() if hasattr(source, "detach") else source
        spec = Spectrum(np.asarray(values, dtype=complex).reshape(-1))
    return spec if dt is None else spec.with_dt(dt)


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    # Constrained layout keeps the axis labels inside the saved figure (the equal aspect of
    # the eigenvalue plot otherwise pushes the y-label past the left edge).
    return plt.subplots(figsize=(4.5, 4.5), layout="constrained")[1]


def plot_eigenvalues(source, ax=None, unit_circle: bool = True, label=None, **scatter_kwargs):
    """Discrete-time eigenvalues in the complex plane, with the unit circle.

    Eigenvalues inside the circle decay, on it persist, outside it grow.

    Parameters
    ----------
    source : Spectrum, fitted estimator, or array of shape (r,)
        Discrete-time eigenvalues (or what holds them).
    ax : matplotlib Axes, optional
        Where to draw; a new square figure when ``None``.
    unit_circle : bool, default True
        Draw the unit circle.
    label : str, optional
        Legend label of the points.
    **scatter_kwargs
        Passed to ``Axes.scatter``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    spec = _as_spectrum(source)
    ax = _axes(ax)
    if unit_circle:
        theta = np.linspace(0, 2 * np.pi, 400)
        ax.plot(np.cos(theta), np.sin(theta), color="0.6", lw=1, ls="--", zorder=0)
    ev = spec.eigenvalues
    ax.scatter(ev.real, ev.imag, label=label, **{"s": 25, "zorder": 2, **scatter_kwargs})
    ax.axhline(0, color="0.85", lw=0.8, zorder=0)
    ax.axvline(0, color="0.85", lw=0.8, zorder=0)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(r"Re $\lambda$")
    ax.set_ylabel(r"Im $\lambda$")
    ax.set_title("Discrete-time eigenvalues")
    if label is not None:
        ax.legend()
    return ax


def plot_continuous_spectrum(
    source, dt: float | None = None, ax=None, label=None, **scatter_kwargs
):
    """Continuous-time eigenvalues ``omega = log(lambda) / dt``: growth rate vs frequency.

    Parameters
    ----------
    source : Spectrum, fitted estimator, or array of shape (r,)
        Discrete-time eigenvalues (or what holds them).
    dt : float, optional
        Time step; required unless ``source`` is a Spectrum that carries one.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when ``None``.
    label : str, optional
        Legend label of the points.
    **scatter_kwargs
        Passed to ``Axes.scatter``.

    Returns
    -------
    matplotlib.axes.Axes
        x: growth rate ``Re(omega)`` (1 / time), y: frequency ``Im(omega) / (2 pi)``
        (cycles / time); the line ``x = 0`` separates decay from growth.
    """
    spec = _as_spectrum(source, dt)
    ax = _axes(ax)
    ax.scatter(spec.growth_rates, spec.frequencies, label=label, **{"s": 25, **scatter_kwargs})
    ax.axvline(0, color="0.6", lw=1, ls="--", zorder=0)
    ax.set_xlabel(r"growth rate Re $\omega$ [1/time]")
    ax.set_ylabel(r"frequency Im $\omega / 2\pi$ [1/time]")
    ax.set_title("Continuous-time spectrum")
    if label is not None:
        ax.legend()
    return ax


def plot_amplitudes(source, dt: float | None = None, ax=None, **stem_kwargs):
    """Mode amplitudes ``|b_j| * ||phi_j||`` (scale-free) per mode.

    Parameters
    ----------
    source : Spectrum or fitted estimator
        Must carry amplitudes (and modes, for the scale-free weighting; plain ``|b_j|``
        otherwise).
    dt : float, optional
        If given (or carried by the Spectrum), amplitudes are placed at their frequencies
        (cycles / time); otherwise at their index in the ordered spectrum.
    ax : matplotlib Axes, optional
        Where to draw; a new figure when ``None``.
    **stem_kwargs
        Passed to ``Axes.stem``.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If the spectrum has no amplitudes.
    """
    spec = _as_spectrum(source, dt)
    if spec.amplitudes is None:
        raise ValueError("plot_amplitudes needs a Spectrum with amplitudes (e.g. a fitted DMD)")
    weight = np.abs(spec.amplitudes)
    if spec.modes is not None:
        weight = weight * np.linalg.norm(spec.modes, axis=0)
    ax = _axes(ax)
    if spec.dt is not None:
        x = spec.frequencies
        ax.set_xlabel("frequency [1/time]")
    else:
        x = np.arange(len(spec))
        ax.set_xlabel("mode index (ordered by |eigenvalue|)")
    ax.stem(x, weight, **stem_kwargs)
    ax.set_ylabel(r"$|b_j|\,\|\phi_j\|$")
    ax.set_title("Mode amplitudes")
    return ax
