"""Spectral plots: eigenvalues against the unit circle, continuous-time spectra, amplitudes,
and the one-figure overview :func:`plot_summary`.

Every single-panel function takes a :class:`~koopkit.spectrum.Spectrum`, a fitted estimator
with a ``spectrum()`` method (``DMD``, ``EDMD``, ``KernelEDMD``, ...), or a plain array of
discrete-time eigenvalues, draws on ``ax`` (a new figure with constrained layout when ``None``,
so labels stay inside the saved image) and returns the Axes. :func:`plot_summary` draws a whole
figure (singular values, both spectra, the leading modes and their dynamics) and returns it.
"""

from __future__ import annotations

import numpy as np

from koopkit.spectrum import Spectrum

__all__ = ["plot_eigenvalues", "plot_continuous_spectrum", "plot_amplitudes", "plot_summary"]


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


# --------------------------------------------------------------------------- one-figure summary


def _to_numpy(a):
    if a is None:
        return None
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _summary_spectrum(source, dt):
    """``(discrete, continuous, modes, amplitudes, dt)`` of ``source``; spectra may be None.

    A continuous-time model (one with ``continuous_eigenvalues_``, e.g.
    :class:`koopkit.GeneratorEDMD`) gives its rates ``omega`` directly and discrete values
    ``exp(omega dt)`` only with ``dt``; a discrete-time one gives ``lambda`` and continuous values
    ``log(lambda) / dt`` only with ``dt``.
    """
    if dt is not None:
        dt = float(dt)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
    omega = getattr(source, "continuous_eigenvalues_", None)
    if omega is not None and not isinstance(source, Spectrum):
        omega = _to_numpy(omega).astype(complex)
        modes, amps = _to_numpy(getattr(source, "modes_", None)), None
        if getattr(source, "amplitudes_", None) is not None:
            amps = _to_numpy(source.amplitudes_).astype(complex)
        discrete = None if dt is None else np.exp(omega * dt)
        return discrete, omega, modes, amps, dt
    if not (isinstance(source, Spectrum) or callable(getattr(source, "spectrum", None))):
        raise ValueError(
            "plot_summary needs a fitted estimator with a spectrum() method (DMD, EDMD, "
            f"KernelEDMD, GeneratorEDMD, ...) or a Spectrum record, got {type(source).__name__}"
        )
    spec = _as_spectrum(source)
    dt = spec.dt if dt is None else dt
    continuous = None if dt is None else spec.with_dt(dt).continuous_eigenvalues
    return spec.eigenvalues, continuous, spec.modes, spec.amplitudes, dt


def _summary_singular_values(source, X):
    """Singular values of the matrix the estimator regressed on, or None.

    With the training data ``X``: of the lifted features ``psi(X)`` for dictionary models, of
    the kernel features (square roots of the Gram eigenvalues) for kernel EDMD, of the delay
    vectors for Hankel DMD, of the snapshots otherwise. Without ``X``: the estimator's own
    ``singular_values_`` (DMD keeps only the ones of its rank).
    """
    if X is None:
        values = getattr(source, "singular_values_", None)
        return None if values is None else np.abs(_to_numpy(values)).astype(float)
    from koopkit._base import snapshot_pairs

    if getattr(source, "delay_modes_", None) is not None:
        from koopkit.dictionaries import TimeDelay

        X = _to_numpy(X) if not isinstance(X, (list, tuple)) else [_to_numpy(x) for x in X]
        if not isinstance(X, list) and X.ndim == 1:
            X = X[:, None]
        X = TimeDelay(source.delays).fit(X).transform(X)
    rows = snapshot_pairs(X, owner="plot_summary").X
    if getattr(source, "X_fit_", None) is not None and hasattr(source, "_k"):
        ops = source._ops
        rows = ops.asarray(rows)
        gram = _to_numpy(source._k(ops, rows, rows))
        return np.sqrt(np.clip(np.linalg.eigvalsh((gram + gram.T) / 2)[::-1], 0.0, None))
    dictionary = getattr(source, "dictionary_", None)
    features = rows if dictionary is None else dictionary.transform(rows)
    return np.linalg.svd(_to_numpy(features), compute_uv=False)


def _leading(eigenvalues, modes, amplitudes, n_modes):
    """Indices of the ``n_modes`` leading modes by ``|b_j| ||mode_j||``, one per conjugate pair."""
    r = eigenvalues.shape[0]
    weight = np.ones(r) if amplitudes is None else np.abs(amplitudes)
    if modes is not None:
        weight = weight * np.linalg.norm(modes, axis=0)
    scale = float(np.abs(eigenvalues).max()) if r else 1.0
    tiny = 1e-10 * max(scale, 1.0)
    keep = []
    for j in np.argsort(-weight, kind="stable"):
        ev = eigenvalues[j]
        # the lower member of a conjugate pair is drawn by its partner
        if ev.imag < -tiny and np.any(np.abs(eigenvalues - np.conj(ev)) <= 1e-8 * max(scale, 1)):
            continue
        keep.append(int(j))
    return keep[:n_modes]


def _note(ax, text):
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def _format(z: complex) -> str:
    return f"{z.real:.3g}{z.imag:+.3g}i"


def plot_summary(
    source,
    X=None,
    *,
    dt: float | None = None,
    shape: tuple[int, int] | None = None,
    n_modes: int = 3,
    n_steps: int | None = None,
    max_singular_values: int = 50,
    figsize: tuple[float, float] | None = None,
):
    """One-figure overview of a fitted linear Koopman model (PyDMD's ``plot_summary``).

    Three rows. Top: the singular values of the data the model regressed on with the kept rank
    ``rank_`` marked; the discrete-time eigenvalues against the unit circle; the continuous-time
    eigenvalues (growth rate against frequency). Middle: the ``n_modes`` leading modes, as
    curves over the feature index or, with ``shape``, as images. Bottom: their time dynamics
    ``Re(c_j lambda_j^k)`` (discrete time) or ``Re(c_j exp(omega_j t))`` (continuous time).
    The leading modes are those of largest ``|b_j| ||mode_j||`` (amplitude times mode norm),
    one per conjugate pair; their colour is the same in every panel, other eigenvalues are grey.
    Each mode is drawn normalised (unit norm, its largest entry real and positive) and its
    dynamics carry the removed scale, so ``x_k ≈ sum_j Re(mode_j c_j(k))`` over the modes of the
    model (both members of a pair give twice the real part).

    Parameters
    ----------
    source : fitted estimator or Spectrum
        Any estimator with ``spectrum()`` (DMD, EDMD, KernelEDMD, DMDc, EDMDc, HankelDMD,
        OptDMD, BOPDMD, the Koopman model of a VAMPNet) or with ``continuous_eigenvalues_``
        (:class:`koopkit.GeneratorEDMD`), or a :class:`~koopkit.spectrum.Spectrum`.
    X : array of shape (T, n), (n_traj, T, n), or list of arrays (T_i, n), optional
        The training data. Gives the full singular-value spectrum (of ``psi(X)`` for dictionary
        models, of the kernel features for kernel EDMD, of the delay vectors for Hankel DMD, of
        the snapshots otherwise; for DMDc and EDMDc of the state part, the inputs are not
        passed) and the default length of the dynamics. Without it only the
        estimator's own ``singular_values_`` are drawn (DMD keeps those of its rank), if any.
    dt : float, optional
        Time step. Discrete-time models need it for the continuous-time panel (``log(lambda) /
        dt``) and the time axis; continuous-time models for the discrete panel (the eigenvalues
        ``exp(omega dt)`` of the time-``dt`` flow) and the time grid of the dynamics (1 time
        unit per step without it). A Spectrum's own ``dt`` is used when this is ``None``.
    shape : tuple of int (rows, cols), optional
        Draw each mode as an image of this shape (``rows * cols == n_features``, C order: the
        grid flattened row by row).
    n_modes : int, default 3
        Number of leading modes (fewer if the model has fewer distinct modes).
    n_steps : int, optional
        Steps of the dynamics; default: those of the first trajectory of ``X``, else 100.
    max_singular_values : int, default 50
        Largest number of singular values drawn.
    figsize : tuple of float, optional
        Figure size in inches; default ``(4 * max(3, n_modes), 10)``.

    Returns
    -------
    matplotlib.figure.Figure
        With three subfigures (``fig.subfigs``): the top row's axes are singular values,
        discrete eigenvalues, continuous eigenvalues; then one axes per mode in each of the two
        other rows. A panel that lacks its input (no ``dt``, no singular values, no modes) says
        what it needs instead of being left out.

    Raises
    ------
    ValueError
        For an unfitted estimator or something without a spectrum, a non-positive ``dt``,
        ``n_modes < 1``, a ``shape`` that does not match ``n_features``, or bad ``X``.
    """
    import matplotlib.pyplot as plt

    if isinstance(n_modes, bool) or int(n_modes) != n_modes or n_modes < 1:
        raise ValueError(f"n_modes must be a positive integer, got {n_modes!r}")
    n_modes = int(n_modes)
    if n_steps is not None and (
        isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1
    ):
        raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
    discrete, continuous, modes, amplitudes, dt = _summary_spectrum(source, dt)
    is_continuous_model = getattr(source, "continuous_eigenvalues_", None) is not None
    native = continuous if is_continuous_model else discrete
    if shape is not None:
        shape = tuple(int(v) for v in shape)
        n_features = None if modes is None else modes.shape[0]
        if len(shape) != 2 or (n_features is not None and shape[0] * shape[1] != n_features):
            raise ValueError(
                f"shape must be (rows, cols) with rows * cols == n_features ({n_features}), "
                f"got {shape}"
            )
    singular_values = _summary_singular_values(source, X)
    if n_steps is None:
        n_steps = 100
        if X is not None:
            first = X[0] if isinstance(X, (list, tuple)) or np.ndim(X) == 3 else X
            n_steps = max(int(np.shape(first)[0]) - 1, 1)
    leading = _leading(native, modes, amplitudes, n_modes)
    colors = [f"C{i}" for i in range(len(leading))]

    columns = max(3, n_modes)
    fig = plt.figure(figsize=figsize or (4.0 * columns, 10.0), layout="constrained")
    top, middle, bottom = fig.subfigures(3, 1, height_ratios=[1.1, 1.0, 0.9])
    ax_sv, ax_disc, ax_cont = top.subplots(1, 3)
    ax_modes = np.atleast_1d(middle.subplots(1, n_modes))
    ax_dyn = np.atleast_1d(bottom.subplots(1, n_modes))

    rank = getattr(source, "rank_", None)
    if singular_values is None or singular_values.size == 0:
        _note(ax_sv, "singular values: pass the training data,\nplot_summary(model, X)")
    else:
        values = singular_values[:max_singular_values]
        index = np.arange(1, values.size + 1)
        kept = index <= (rank if rank is not None else values.size)
        relative = values / values[0] if values[0] > 0 else values
        ax_sv.semilogy(index[kept], relative[kept], "o", color="C0", ms=5, label="kept")
        if (~kept).any():
            ax_sv.semilogy(index[~kept], relative[~kept], "o", color="0.65", ms=4, label="dropped")
        if rank is not None and rank < values.size:
            ax_sv.axvline(rank + 0.5, color="0.3", ls="--", lw=1)
        ax_sv.set_xlabel("index")
        ax_sv.set_ylabel(r"$\sigma_i / \sigma_1$")
        ax_sv.legend(fontsize=8, loc="upper right")
    ax_sv.set_title("Singular values" + (f" (rank {rank})" if rank is not None else ""))

    if discrete is None:
        _note(ax_disc, "discrete-time eigenvalues of the\ntime-dt flow: pass dt")
        ax_disc.set_title("Discrete-time eigenvalues")
    else:
        plot_eigenvalues(discrete, ax=ax_disc, color="0.6", s=18)
        for j, c in zip(leading, colors, strict=False):
            ax_disc.scatter(discrete[j].real, discrete[j].imag, s=70, color=c, ec="k", zorder=3)
        ax_disc.set_title(
            r"Discrete-time eigenvalues $\lambda$" + (f" (dt = {dt:g})" if dt else "")
        )

    if continuous is None:
        _note(ax_cont, "continuous-time eigenvalues\nlog(λ) / dt: pass dt")
        ax_cont.set_title("Continuous-time eigenvalues")
    else:
        ax_cont.scatter(continuous.real, continuous.imag / (2 * np.pi), color="0.6", s=18)
        for j, c in zip(leading, colors, strict=False):
            w = continuous[j]
            ax_cont.scatter(w.real, w.imag / (2 * np.pi), s=70, color=c, ec="k", zorder=3)
        ax_cont.axvline(0, color="0.6", lw=1, ls="--", zorder=0)
        ax_cont.set_xlabel(r"growth rate Re $\omega$ [1/time]")
        ax_cont.set_ylabel(r"frequency Im $\omega / 2\pi$ [1/time]")
        ax_cont.set_title(r"Continuous-time eigenvalues $\omega$")

    step = dt if dt is not None else 1.0
    k = np.arange(n_steps + 1)
    t = k * step
    for i in range(n_modes):
        ax_m, ax_d = ax_modes[i], ax_dyn[i]
        if i >= len(leading):
            _note(ax_m, "no further distinct mode")
            ax_d.set_axis_off()
            continue
        j, c = leading[i], colors[i]
        symbol = r"\omega" if is_continuous_model else r"\lambda"
        label = f"${symbol}$ = {_format(native[j])}"
        scale = 1.0 + 0j
        if modes is None:
            _note(ax_m, "no modes in this model")
        else:
            mode = modes[:, j].astype(complex)
            norm = float(np.linalg.norm(mode))
            if norm > 0:
                peak = mode[np.argmax(np.abs(mode))]
                phase = peak / abs(peak)
                scale = norm * phase
                mode = mode / scale
            if shape is None:
                marker = "o" if mode.size <= 20 else None  # a few features: show the points
                ax_m.plot(mode.real, color=c, lw=1.5, marker=marker, label="Re")
                if np.abs(mode.imag).max() > 1e-12:
                    ax_m.plot(mode.imag, color=c, lw=1, ls=":", marker=marker, label="Im")
                    ax_m.legend(fontsize=8)
                ax_m.set_xlabel("feature")
            else:
                image = mode.real.reshape(shape)
                vmax = float(np.abs(image).max()) or 1.0
                im = ax_m.imshow(image, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
                fig.colorbar(im, ax=ax_m, shrink=0.8)
        ax_m.set_title(f"mode {j}: {label}", color=c, fontsize=10)
        b = 1.0 + 0j if amplitudes is None else complex(amplitudes[j])
        with np.errstate(over="ignore", invalid="ignore"):
            if is_continuous_model:
                path = b * scale * np.exp(native[j] * t)
            else:
                path = b * scale * native[j] ** k
        ax_d.plot(t, path.real, color=c)
        ax_d.set_xlabel("time" if dt is not None or is_continuous_model else "step")
        ax_d.set_title(
            "dynamics" + (" (unit amplitude)" if amplitudes is None else ""), fontsize=10
        )
    return fig
