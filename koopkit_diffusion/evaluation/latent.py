"""Latent–semantic proximity: do close Koopman latents generate semantically similar samples?

KDM (Berman et al. 2025) claims that noises whose Koopman latents ``K·E_T(σmax·ε)`` are close
generate semantically similar samples — closer than their distance in raw noise space would
suggest. :func:`latent_semantic_proximity` measures it by the Spearman correlation between
pairwise latent distances and pairwise semantic distances of the outputs (classifier features for
images, coordinates for 2-D data), and by k-NN label agreement (how often the k nearest neighbours
of a point carry its class), each beside the same number in raw noise space.
:func:`noise_partition` compares how teacher and student partition the noise space.
The claim of finite-dimensional representability is tested in
:mod:`koopkit_diffusion.evaluation.representability`; figures are in
:mod:`koopkit_diffusion.evaluation.plots`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from .arrays import as_matrix

__all__ = [
    "ProximityResult",
    "cluster_labels",
    "kdm_latents",
    "knn_label_agreement",
    "latent_semantic_proximity",
    "noise_partition",
]


def _pairwise(x: np.ndarray) -> np.ndarray:
    sq = np.sum(x * x, axis=1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0))


def knn_label_agreement(points: Any, classes: Any, k: int = 10) -> float:
    """Mean fraction of each point's ``k`` nearest neighbours (Euclidean) that share its class.

    Parameters
    ----------
    points : array-like of shape (n, ...)
        Flattened to ``(n, d)``.
    classes : array-like of shape (n,), int
    k : int, default 10

    Returns
    -------
    float
        In ``[0, 1]``; for classes unrelated to position it is near ``Σ_c p_c²``.
    """
    x = as_matrix(points, "points", flatten=True)
    c = np.asarray(classes).reshape(-1)
    if c.shape[0] != x.shape[0]:
        raise ValueError(f"classes must have shape ({x.shape[0]},), got {c.shape}")
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k must lie in [1, n - 1] = [1, {x.shape[0] - 1}], got {k}")
    d = _pairwise(x)
    np.fill_diagonal(d, np.inf)
    neighbours = np.argpartition(d, k - 1, axis=1)[:, :k]
    return float(np.mean(c[neighbours] == c[:, None]))


@dataclass
class ProximityResult:
    """Result of :func:`latent_semantic_proximity`.

    Attributes
    ----------
    spearman_latent, spearman_noise : float
        Spearman correlation of pairwise distances (latent resp. noise) with pairwise semantic
        distances of the outputs.
    knn_agreement_latent, knn_agreement_noise : float or None
        k-NN label agreement in latent resp. noise space (None without classes).
    knn_agreement_chance : float or None
        ``Σ_c p_c²``: the agreement of neighbours chosen at random.
    k : int
    n : int
        Number of points used.
    spearman_latent_within_group, spearman_noise_within_group : float or None
        With ``groups`` (the conditioning labels of a conditional model): the Spearman
        correlations computed among pairs that share a group, averaged over groups. Labels
        separate the latents of a conditional model by construction (``B·y``), so only these
        numbers test the claim there.
    """

    spearman_latent: float
    spearman_noise: float
    knn_agreement_latent: float | None
    knn_agreement_noise: float | None
    knn_agreement_chance: float | None
    k: int
    n: int
    spearman_latent_within_group: float | None = None
    spearman_noise_within_group: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary of the fields."""
        return dict(self.__dict__)


def latent_semantic_proximity(
    latents: Any,
    noise: Any,
    semantic: Any,
    classes: Any = None,
    k: int = 10,
    max_samples: int = 2000,
    seed: int = 0,
    groups: Any = None,
) -> ProximityResult:
    """Does proximity in the latent track semantic similarity better than raw noise does?

    Implements the latent–semantic analysis of KDM (Berman et al. 2025, §5): pairwise distances
    among latents and among noises are each rank-correlated (Spearman) with pairwise distances
    of the outputs' semantic features, and k-NN label agreement is measured in both spaces.

    Parameters
    ----------
    latents : array-like of shape (n, ...)
        Koopman latents ``K·E_T(σmax·ε)`` (see :func:`kdm_latents`).
    noise : array-like of shape (n, ...)
        The noises ``ε`` that produced them (the baseline space).
    semantic : array-like of shape (n, ...)
        Semantic features of the generated outputs (classifier features; coordinates for 2-D).
    classes : array-like of shape (n,), optional
        Class of each output (classifier prediction, cluster or cell); enables k-NN agreement.
    k : int, default 10
    max_samples : int, default 2000
        Points are subsampled (with ``seed``) to bound the quadratic cost.
    seed : int, default 0
    groups : array-like of shape (n,), optional
        Conditioning labels; adds the within-group correlations (see :class:`ProximityResult`).

    Returns
    -------
    ProximityResult
    """
    z, e, s = (
        as_matrix(latents, "latents", flatten=True),
        as_matrix(noise, "noise", flatten=True),
        as_matrix(semantic, "semantic", flatten=True),
    )
    n = z.shape[0]
    if e.shape[0] != n or s.shape[0] != n:
        raise ValueError(
            f"latents, noise and semantic need the same n, got {n}, {e.shape[0]}, {s.shape[0]}"
        )
    if n < 3:
        raise ValueError(f"need at least 3 points, got {n}")
    idx = np.arange(n)
    if n > max_samples:
        idx = np.sort(np.random.default_rng(seed).choice(n, max_samples, replace=False))
    z, e, s = z[idx], e[idx], s[idx]
    upper = np.triu_indices(len(idx), k=1)
    d_sem = _pairwise(s)[upper]
    d_z, d_e = _pairwise(z)[upper], _pairwise(e)[upper]
    rho_z = float(spearmanr(d_z, d_sem).statistic)
    rho_e = float(spearmanr(d_e, d_sem).statistic)
    agree_z = agree_e = chance = None
    if classes is not None:
        c = np.asarray(classes.cpu() if isinstance(classes, torch.Tensor) else classes)
        c = c.reshape(-1)
        if c.shape[0] != n:
            raise ValueError(f"classes must have shape ({n},), got {c.shape}")
        c = c[idx]
        agree_z, agree_e = knn_label_agreement(z, c, k), knn_label_agreement(e, c, k)
        _, counts = np.unique(c, return_counts=True)
        chance = float(np.sum((counts / counts.sum()) ** 2))
    within_z = within_e = None
    if groups is not None:
        g = np.asarray(groups.cpu() if isinstance(groups, torch.Tensor) else groups).reshape(-1)
        if g.shape[0] != n:
            raise ValueError(f"groups must have shape ({n},), got {g.shape}")
        g = g[idx]
        same = (g[:, None] == g[None, :])[upper]
        rhos_z, rhos_e = [], []
        for value in np.unique(g):
            mask = same & (g[upper[0]] == value)
            if mask.sum() >= 3:
                rhos_z.append(spearmanr(d_z[mask], d_sem[mask]).statistic)
                rhos_e.append(spearmanr(d_e[mask], d_sem[mask]).statistic)
        if rhos_z:
            within_z, within_e = float(np.mean(rhos_z)), float(np.mean(rhos_e))
    return ProximityResult(rho_z, rho_e, agree_z, agree_e, chance, k, len(idx), within_z, within_e)


@torch.no_grad()
def kdm_latents(
    model: Any, noise: torch.Tensor, labels: torch.Tensor | None = None, batch_size: int = 1024
) -> tuple[torch.Tensor, torch.Tensor]:
    """Koopman latents ``K·E_T(σmax·ε)`` (+ ``B·y``) and the decoded samples, in eval mode.

    Parameters
    ----------
    model : KDM-like
        Has ``encode_noise(noise, labels)``, ``advance(z, labels)`` and ``decode(z, labels)``.
    noise : torch.Tensor of shape ``(n, *shape)``
        Unscaled ``ε``.
    labels : torch.Tensor of shape (n,), optional
    batch_size : int, default 1024

    Returns
    -------
    latents : torch.Tensor of shape (n, latent_dim), on the CPU
    samples : torch.Tensor of shape ``(n, *shape)``, on the CPU
    """
    ref = next(model.parameters())
    was_training = model.training
    model.eval()
    zs, xs = [], []
    try:
        for start in range(0, noise.shape[0], batch_size):
            eps = noise[start : start + batch_size].to(ref.device, ref.dtype)
            y = None if labels is None else labels[start : start + batch_size].to(ref.device)
            z = model.advance(model.encode_noise(eps, y), y)
            zs.append(z.reshape(z.shape[0], -1).cpu())
            xs.append(model.decode(z, y).cpu())
    finally:
        model.train(was_training)
    return torch.cat(zs), torch.cat(xs)


def cluster_labels(reference: Any, *others: Any, n_clusters: int = 8, seed: int = 0) -> list:
    """k-means cells of 2-D samples: fit on ``reference``, label it and ``others``.

    Parameters
    ----------
    reference : array-like of shape (n, d)
        E.g. teacher samples.
    *others : array-like of shape (m, d)
        E.g. KDM samples from the same noises.
    n_clusters : int, default 8
    seed : int, default 0

    Returns
    -------
    list of ndarray of int
        Cluster index of each row, for ``reference`` then each of ``others``.
    """
    from sklearn.cluster import KMeans

    ref = as_matrix(reference, "reference", flatten=True)
    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(ref)
    return [km.labels_] + [km.predict(as_matrix(o, "samples", flatten=True)) for o in others]


def noise_partition(
    noise: Any, teacher_samples: Any, model_samples: Any, n_clusters: int = 8, seed: int = 0
) -> dict[str, Any]:
    """The partition of noise space induced by where each noise lands (2-D data).

    Both generators map the same noises; the samples are assigned to k-means cells fitted on the
    teacher's samples. Plot with :func:`koopkit_diffusion.evaluation.plots.plot_noise_partition`.

    Parameters
    ----------
    noise : array-like of shape (n, 2)
    teacher_samples, model_samples : array-like of shape (n, 2)
        Outputs of the teacher and of the one-step model for ``noise`` (row by row).
    n_clusters : int, default 8
    seed : int, default 0

    Returns
    -------
    dict
        ``teacher_cells``, ``model_cells`` (ndarray (n,) int) and ``agreement`` (float: fraction
        of noises sent to the same cell by both).
    """
    e = as_matrix(noise, "noise", flatten=True)
    t_cells, m_cells = cluster_labels(
        teacher_samples, model_samples, n_clusters=n_clusters, seed=seed
    )
    if not e.shape[0] == t_cells.shape[0] == m_cells.shape[0]:
        raise ValueError("noise, teacher_samples and model_samples need the same number of rows")
    return {
        "teacher_cells": t_cells,
        "model_cells": m_cells,
        "agreement": float(np.mean(t_cells == m_cells)),
    }
