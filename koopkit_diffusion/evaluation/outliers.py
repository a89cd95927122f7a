"""Outliers of 2-D one-step samples and the noises they come from (the KDM authors' analysis).

Berman et al. 2025 (checkerboard experiment; ``experiments/checkerboard/analysis.py`` of their
code) flag a 2-D sample as an outlier when DBSCAN leaves it out of every cluster (``eps`` 0.15,
5 neighbours) or when one of its coordinates lies more than 3 standard deviations from the mean,
then colour the inliers by k-means cell (8 cells) and draw the outliers' *noises*: the points a
one-step generator throws between the squares come from noises between the regions that the
teacher's flow sends to different squares. :func:`detect_outliers` is the rule;
:func:`outlier_analysis` applies it to a model's samples and to the teacher's samples of the same
noises, and draws both.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .arrays import as_matrix

__all__ = ["detect_outliers", "outlier_analysis"]


def detect_outliers(
    points: np.ndarray | torch.Tensor,
    eps: float = 0.15,
    min_samples: int = 5,
    z_threshold: float = 3.0,
) -> dict[str, np.ndarray]:
    """Outliers of a point cloud by DBSCAN (Ester et al. 1996) and per-coordinate z-scores.

    Parameters
    ----------
    points : array of shape (n, d)
    eps : float, default 0.15
        DBSCAN neighbourhood radius, in the points' units (the authors' value on the
        checkerboard, whose squares are ≈ 2.2 wide in these units).
    min_samples : int, default 5
        DBSCAN neighbours of a core point.
    z_threshold : float, default 3.0
        A point whose ``|x_j − mean_j| / std_j`` exceeds this in some coordinate ``j`` is an
        outlier.

    Returns
    -------
    dict of str to ndarray of shape (n,), bool
        ``"dbscan"`` (left out of every cluster), ``"zscore"`` and ``"outlier"`` (either).
    """
    from sklearn.cluster import DBSCAN

    x = as_matrix(points, "points")
    if len(x) < 2:
        raise ValueError(f"points must have shape (n >= 2, d), got {x.shape}")
    if not (eps > 0 and min_samples >= 1 and z_threshold > 0):
        raise ValueError("eps and z_threshold must be positive and min_samples at least 1")
    dbscan = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(x) == -1
    std = x.std(axis=0)
    z = np.abs(x - x.mean(axis=0)) / np.where(std > 0, std, 1.0)
    zscore = (z > z_threshold).any(axis=1)
    return {"dbscan": dbscan, "zscore": zscore, "outlier": dbscan | zscore}


def outlier_analysis(
    model: Any,
    noise: torch.Tensor,
    teacher_samples: torch.Tensor,
    out_dir: str | os.PathLike | None = None,
    eps: float = 0.15,
    n_clusters: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Outliers of a one-step model's 2-D samples and of the teacher's, on the same noises.

    Parameters
    ----------
    model : KDM-like
        With ``sample(noise=...)``; flat 2-D samples.
    noise : Tensor of shape (n, 2)
        Unscaled teacher noises (e.g. a held-out pair set's ``"noise"``).
    teacher_samples : Tensor of shape (n, 2)
        The teacher's samples of the same noises.
    out_dir : path-like, optional
        Receives ``outliers.png``: samples (top) and their noises (bottom), model (left) and
        teacher (right); inliers coloured by k-means cell of the samples, outliers as red crosses.
    eps : float, default 0.15
        DBSCAN radius (:func:`detect_outliers`).
    n_clusters : int, default 8
        k-means cells of the colouring.
    seed : int, default 0
        Seed of k-means.

    Returns
    -------
    dict
        Per source (``"model"``, ``"teacher"``): ``fraction`` of outliers, ``dbscan_fraction``,
        ``zscore_fraction``; ``both_fraction`` (outliers of both on the same noise) and
        ``model_outlier_noise_radius`` / ``inlier_noise_radius`` (mean ``‖ε‖`` of the model's
        outliers and inliers), and ``n``.
    """
    from sklearn.cluster import KMeans

    if noise.ndim != 2 or noise.shape[1] != 2 or teacher_samples.shape != noise.shape:
        raise ValueError(
            "noise and teacher_samples must both have shape (n, 2), got "
            f"{tuple(noise.shape)} and {tuple(teacher_samples.shape)}"
        )
    with torch.no_grad():
        generated = torch.cat([model.sample(noise=c) for c in noise.split(25_000)])
    eps_np = as_matrix(noise, "noise")
    found = {
        "model": detect_outliers(generated, eps=eps),
        "teacher": detect_outliers(teacher_samples, eps=eps),
    }
    radius = np.linalg.norm(eps_np, axis=1)
    out_model = found["model"]["outlier"]
    result: dict[str, Any] = {"n": int(len(noise)), "eps": eps}
    for source, masks in found.items():
        result[source] = {f"{k}_fraction": float(v.mean()) for k, v in masks.items()}
        result[source]["fraction"] = result[source].pop("outlier_fraction")
    result["both_fraction"] = float((out_model & found["teacher"]["outlier"]).mean())
    result["model_outlier_noise_radius"] = (
        float(radius[out_model].mean()) if out_model.any() else None
    )
    result["inlier_noise_radius"] = float(radius[~out_model].mean())
    if out_dir is not None:
        cells = {
            source: KMeans(n_clusters, random_state=seed, n_init=10).fit_predict(
                as_matrix(x, source)
            )
            for source, x in (("model", generated), ("teacher", teacher_samples))
        }
        _figure(Path(out_dir) / "outliers.png", generated, teacher_samples, eps_np, found, cells)
    return result


def _figure(path, generated, teacher, noise, found, cells) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(10, 10))
    for col, (source, x) in enumerate((("model", generated), ("teacher", teacher))):
        out = found[source]["outlier"]
        for row, points, what in ((0, as_matrix(x, source), "samples"), (1, noise, "noises")):
            ax = axes[row, col]
            ax.scatter(*points[~out].T, c=cells[source][~out], s=2, alpha=0.4, rasterized=True)
            ax.scatter(*points[out].T, c="red", marker="x", s=12, alpha=0.9, rasterized=True)
            ax.set_title(f"{source}: {what} ({out.mean():.2%} outliers)", fontsize=10)
            ax.set_aspect("equal")
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
