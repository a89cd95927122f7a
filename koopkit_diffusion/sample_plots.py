"""PNG figures of samples: 2-D histograms for points, class-by-row grids for images."""

from __future__ import annotations

import os
from pathlib import Path

import torch

__all__ = ["plot_samples"]


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
