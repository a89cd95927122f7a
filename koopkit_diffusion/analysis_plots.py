"""Figures of :mod:`koopkit_diffusion.analysis` (matplotlib; each returns its Figure).

- :func:`plot_latent_embedding`: PCA of Koopman latents beside PCA of the raw noises, coloured by
  the class of the generated sample;
- :func:`plot_representability`: residual against latent dimension per noise level, and the
  semigroup error;
- :func:`plot_operator_spectrum`: eigenvalues of the learned operator against the unit circle;
- :func:`plot_noise_partition`: 2-D noise points coloured by the cell of their sample, teacher
  beside the one-step model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from koopkit_diffusion.analysis import RepresentabilityResult

__all__ = [
    "plot_latent_embedding",
    "plot_noise_partition",
    "plot_operator_spectrum",
    "plot_representability",
    "save_figure",
]


def _np(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n, ...) with features, got {x.shape}")
    return x.reshape(x.shape[0], -1)


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
        xy = _pca2(_np(data, name))
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
    from koopkit.analysis import plot_eigenvalues

    ax = plot_eigenvalues(np.asarray(eigenvalues, dtype=np.complex128))
    ax.set_title("Learned operator K: discrete-time eigenvalues")
    return ax.figure


def plot_noise_partition(noise: Any, partition: dict[str, Any], title: str = "") -> Any:
    """Noise points coloured by the cell of their sample, teacher beside the one-step model.

    Parameters
    ----------
    noise : array-like of shape (n, 2)
    partition : dict
        From :func:`koopkit_diffusion.analysis.noise_partition`.
    title : str, default ""

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    e = _np(noise, "noise")
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
