"""Figures of the evaluation wing (matplotlib).

- :func:`plot_samples`: samples as a PNG (2-D histogram for points, class-by-row grid for images);
- :func:`plot_latent_embedding`: PCA of Koopman latents beside PCA of the raw noises, coloured by
  the class of the generated sample;
- :func:`plot_representability`: residual against latent dimension per noise level, and the
  semigroup error;
- :func:`plot_operator_spectrum`: eigenvalues of the learned operator against the unit circle;
- :func:`plot_noise_partition`: 2-D noise points coloured by the cell of their sample, teacher
  beside the one-step model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from koopkit.analysis import plot_eigenvalues

from .arrays import as_matrix
from .representability import RepresentabilityResult

__all__ = [
    "plot_distillation_2d",
    "plot_samples",
    "plot_latent_embedding",
    "plot_noise_partition",
    "plot_operator_spectrum",
    "plot_representability",
    "save_figure",
]


def _pca2(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    _, _, vh = np.linalg.svd(xc, full_matrices=False)
    out = xc @ vh[:2].T
    return out if out.shape[1] == 2 else np.hstack([out, np.zeros((out.shape[0], 1))])


def plot_latent_embedding(latents: Any, noise: Any, classes: Any, title: str = "") -> Any:
    """2-D PCA embeddings of latents and of noises, points coloured by class.

    Parameters
    ----------
    latents : array-like of shape (n, ...)
    noise : array-like of shape (n, ...)
    classes : array-like of shape (n,), int
    title : str, default ""

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    c = np.asarray(classes.cpu() if hasattr(classes, "cpu") else classes).reshape(-1)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
    for ax, data, name in ((axes[0], noise, "raw noise ε"), (axes[1], latents, "KDM latent K·E_T")):
        xy = _pca2(as_matrix(data, name, flatten=True, finite=False))
        sc = ax.scatter(xy[:, 0], xy[:, 1], c=c, cmap="tab10", s=6, vmin=-0.5, vmax=9.5)
        ax.set_title(f"{name} (PCA)")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(sc, ax=axes, label="class of generated sample", ticks=range(10))
    if title:
        fig.suptitle(title)
    return fig


def plot_representability(result: RepresentabilityResult) -> Any:
    """Residual curves per noise level (latent solid, raw state dashed) and semigroup errors.

    Parameters
    ----------
    result : RepresentabilityResult

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 4))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(result.sigmas) - 1))
    floor = np.finfo(float).eps
    for i, color in enumerate(colors):
        label = f"σ={result.sigmas[i]:.3g} → 0"
        ax0.semilogy(
            result.dims,
            np.maximum(result.residual_latent[i], floor),
            "o-",
            c=color,
            label=f"latent, {label}",
        )
        ax0.semilogy(
            result.dims_state,
            np.maximum(result.residual_state[i], floor),
            "x--",
            c=color,
            alpha=0.6,
            label=f"raw state, {label}",
        )
    ax0.set_xscale("log", base=2)
    ax0.set_xlabel("number of coordinates d (truncated SVD)")
    ax0.set_ylabel("relative residual of the best affine map")
    ax0.legend(fontsize=6)
    ax0.grid(True, which="both", alpha=0.3)
    s = result.sigmas[1:-1]
    if s.size:
        ax1.semilogy(s, np.maximum(result.semigroup_latent, floor), "o-", label="latent (operator)")
        ax1.semilogy(
            s, np.maximum(result.semigroup_latent_on_data, floor), "s-", label="latent (on data)"
        )
        ax1.semilogy(s, np.maximum(result.semigroup_state, floor), "x--", label="raw state")
        ax1.set_xscale("log")
        ax1.legend(fontsize=8)
    ax1.set_xlabel("intermediate noise level s")
    ax1.set_ylabel("‖K_{T→s}K_{s→0} − K_{T→0}‖ / ‖K_{T→0}‖")
    ax1.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_operator_spectrum(eigenvalues: Any) -> Any:
    """Eigenvalues of the learned Koopman operator against the unit circle.

    Parameters
    ----------
    eigenvalues : array-like of shape (r,), complex

    Returns
    -------
    matplotlib.figure.Figure
    """
    ax = plot_eigenvalues(np.asarray(eigenvalues, dtype=np.complex128))
    ax.set_title("Learned operator K: discrete-time eigenvalues")
    return ax.figure


def plot_noise_partition(noise: Any, partition: dict[str, Any], title: str = "") -> Any:
    """Noise points coloured by the cell of their sample, teacher beside the one-step model.

    Parameters
    ----------
    noise : array-like of shape (n, 2)
    partition : dict
        From :func:`koopkit_diffusion.evaluation.latent.noise_partition`.
    title : str, default ""

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    e = as_matrix(noise, "noise", flatten=True, finite=False)
    if e.shape[1] != 2:
        raise ValueError(f"the noise-partition figure needs 2-D noise, got {e.shape[1]} features")
    fig, axes = plt.subplots(1, 2, figsize=(9, 4.5), sharex=True, sharey=True)
    for ax, key, name in ((axes[0], "teacher_cells", "teacher"), (axes[1], "model_cells", "KDM")):
        ax.scatter(e[:, 0], e[:, 1], c=partition[key], cmap="tab10", s=3)
        ax.set_title(f"{name}: ε coloured by its sample's cell", fontsize=10)
        ax.set_aspect("equal")
    fig.suptitle(title or f"same cell for {100 * partition['agreement']:.1f}% of noises")
    return fig


def save_figure(fig: Any, path: Any) -> None:
    """Save as PNG (150 dpi) and close the figure."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_samples(
    samples: torch.Tensor,
    path: str | os.PathLike,
    labels: torch.Tensor | None = None,
    title: str | None = None,
    max_images: int = 100,
) -> Path:
    """Save samples as a PNG: a 2-D histogram for ``(n, 2)`` data, an image grid for images.

    Parameters
    ----------
    samples : torch.Tensor of shape (n, 2) or (n, C, H, W)
        2-D points, or images in [−1, 1] (values are clipped).
    path : path
        Output PNG file.
    labels : torch.Tensor of shape (n,), optional
        Image classes: the grid then shows one row per class (up to 10 per row).
    title : str, optional
    max_images : int, default 100
        Images shown when ``labels`` is None.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    x = samples.detach().cpu().double().numpy()
    if x.ndim == 2 and x.shape[1] == 2:
        fig, ax = plt.subplots(figsize=(5, 5))
        lim = np.quantile(np.abs(x), 0.999) * 1.05
        ax.hist2d(x[:, 0], x[:, 1], bins=200, range=[[-lim, lim], [-lim, lim]], cmap="magma")
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    elif x.ndim == 4:
        if labels is not None:
            y = labels.cpu().numpy()
            rows = [np.flatnonzero(y == c)[:10] for c in np.unique(y)]
        else:
            idx = np.arange(min(len(x), max_images))
            rows = [idx[i : i + 10] for i in range(0, len(idx), 10)]
        n_rows, n_cols = len(rows), max(len(r) for r in rows)
        c, h, w = x.shape[1:]
        grid = np.ones((n_rows * (h + 1), n_cols * (w + 1), c))
        for i, row in enumerate(rows):
            for j, k in enumerate(row):
                img = (np.clip(x[k], -1, 1).transpose(1, 2, 0) + 1) / 2
                grid[i * (h + 1) : i * (h + 1) + h, j * (w + 1) : j * (w + 1) + w] = img
        fig, ax = plt.subplots(figsize=(n_cols * 0.6 + 0.5, n_rows * 0.6 + 0.5))
        ax.imshow(grid[..., 0] if c == 1 else grid, cmap="gray" if c == 1 else None, vmin=0, vmax=1)
        ax.axis("off")
    else:
        raise ValueError(f"samples must have shape (n, 2) or (n, C, H, W), got {x.shape}")
    if title:
        ax.set_title(title)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_distillation_2d(
    path: str | os.PathLike,
    samples: dict[str, Any],
    nfe: dict[str, int | None],
    histories: dict[str, list[dict[str, Any]]],
    eigenvalues: Any,
    scores: dict[str, float] | None = None,
    floor: float | None = None,
    lim: float = 4.8,
) -> Path:
    """The 2-D distillation figure: samples, training losses and the Koopman operator's spectrum.

    Parameters
    ----------
    path : path-like
        Output PNG.
    samples : dict of str to array-like of shape (n, 2)
        In panel order, e.g. ``{"true": ..., "teacher": ..., "kdm": ..., "kd": ...}``.
    nfe : dict of str to int or None
        Network evaluations per sample of each entry (``None`` for the true distribution).
    histories : dict of str to list of dict
        ``metrics.jsonl`` records per student; every loss that is not identically zero is drawn.
    eigenvalues : array-like of shape (d,), complex
        Discrete-time eigenvalues of the KDM operator.
    scores : dict of str to float, optional
        SW1 to the true distribution per entry, shown in the titles.
    floor : float, optional
        SW1 between two independent true sets, shown with the scores.
    lim : float, default 4.8
        Half-width of the sample panels.

    Returns
    -------
    pathlib.Path
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = scores or {}
    names = list(samples)
    with plt.rc_context({"font.size": 13, "axes.titlesize": 14}):
        fig, axes = plt.subplots(2, 3, figsize=(16, 10.5), constrained_layout=True)
        panels = list(axes.flat)
        image = None
        for ax, name in zip(panels, names, strict=False):
            x = as_matrix(samples[name], name, finite=False)
            _, _, _, image = ax.hist2d(
                x[:, 0], x[:, 1], bins=120, range=[[-lim, lim], [-lim, lim]], cmap="magma",
                density=True, vmax=0.12,
            )  # fmt: skip
            label = "true board" if nfe.get(name) is None else f"{name.upper()}, {nfe[name]} NFE"
            if name in scores:
                label += f"\nSW1 to true {scores[name]:.4f}"
                if floor:
                    label += f" ({scores[name] / floor:.1f}x floor)"
            ax.set_title(label)
            ax.set_aspect("equal")
            ax.set_xlabel("$x_1$")
            ax.set_ylabel("$x_2$")
        if image is not None:
            fig.colorbar(image, ax=panels[: len(names)], shrink=0.6, label="density")
        ax = panels[len(names)]
        styles = {"kdm": "-", "kd": "--"}
        for who, history in histories.items():
            keys = sorted({k for r in history for k, v in r.items() if k not in _NOT_LOSSES})
            for key in keys:
                points = [(r["step"], r[key]) for r in history if key in r]
                if points and any(v > 0 for _, v in points):
                    steps, values = zip(*points, strict=True)
                    ax.plot(steps, values, styles.get(who, "-"), label=f"{who.upper()} {key}")
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel("loss (log scale)")
        ax.set_title("training losses (zero terms omitted)")
        ax.legend(fontsize=10, ncol=2)
        _plot_spectrum_zoomed(panels[len(names) + 1], np.asarray(eigenvalues))
        fig.savefig(path, dpi=80)
        plt.close(fig)
    return Path(path)


_NOT_LOSSES = {"step", "epoch", "time", "lr", "bad_steps", "bad_disc_steps", "samples_per_s"}


def _plot_spectrum_zoomed(ax: Any, eig: np.ndarray) -> None:
    """Eigenvalues zoomed to where they are, the unit circle through the view, |λ| > 1 marked."""
    outside = np.abs(eig) > 1.0
    pad = 0.05 + 0.1 * max(np.ptp(eig.real), np.ptp(eig.imag))
    lo_x, hi_x = eig.real.min() - pad, eig.real.max() + pad
    lo_y, hi_y = eig.imag.min() - pad, eig.imag.max() + pad
    theta = np.linspace(0, 2 * np.pi, 2000)
    ax.plot(np.cos(theta), np.sin(theta), "k-", lw=1.0, label="unit circle")
    ax.scatter(eig.real[~outside], eig.imag[~outside], s=22, c="C0", label="|λ| ≤ 1")
    if outside.any():
        ax.scatter(eig.real[outside], eig.imag[outside], s=30, c="C3", marker="^", label="|λ| > 1")
    ax.set_xlim(lo_x, hi_x)
    ax.set_ylim(lo_y, hi_y)
    ax.set_xlabel("Re λ")
    ax.set_ylabel("Im λ")
    ax.set_title(f"KDM operator: {len(eig)} discrete-time eigenvalues")
    ax.legend(fontsize=10, loc="lower left")
    ax.text(
        0.02, 0.98,
        f"{int(outside.sum())} of {len(eig)} have |λ| > 1: directions K stretches.\n"
        "One step is all KDM applies, so this is allowed;\nrolled out, K would not be stable.",
        transform=ax.transAxes, va="top", fontsize=10,
        bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )  # fmt: skip
