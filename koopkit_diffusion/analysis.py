"""Checks of KDM's two claims on a trained model.

KDM (Berman et al. 2025) rests on two statements that a researcher can test on their own model:

1. **Latent–semantic proximity** (:func:`latent_semantic_proximity`): noises whose Koopman
   latents ``K·E_T(σmax·ε)`` are close generate semantically similar samples — closer than their
   distance in raw noise space would suggest. Measured by the Spearman correlation between
   pairwise latent distances and pairwise semantic distances of the outputs (classifier features
   for digits, coordinates for 2-D data), and by k-NN label agreement (how often the k nearest
   neighbours of a point carry its class), each beside the same number in raw noise space.
2. **Finite-dimensional representability of the flow** (:func:`flow_representability`): the
   teacher's noise→sample flow is (nearly) linear in a finite set of learned coordinates. We run
   the teacher's Heun sampler with its trajectory, put the states at intermediate noise levels
   through the model's encoders, fit linear (affine) maps between times with
   :class:`koopkit.EDMD`, and report their relative residual against the latent dimension
   (truncated SVD) and the semigroup consistency ``‖K_{t→s}K_{s→0} − K_{t→0}‖/‖K_{t→0}‖``.

**What is measured at intermediate times.** A KDM has two encoders: ``E_T`` (trained on the
noise ``x_T``) and ``E_0`` (trained on clean samples). Neither ever saw an intermediate state
``x_t``. Here the latent at time ``t > 0`` is ``E_T(x_t)`` — the noise encoder applied outside its
training distribution — and the latent at ``t = 0`` is ``E_0(x_0)``, the space that ``K`` maps
into (``"data"`` endpoint; ``E_T(x_0)`` with ``endpoint="noise"``). The same maps fitted on the
raw states ``x_t`` (identity lifting) are reported as the baseline. A small residual for
``t = T`` says the learned pair of latents linearises the end-to-end map; a small residual and
semigroup error at intermediate times says more: that ``E_T`` coordinates evolve linearly along
the whole flow.

Figures: :mod:`koopkit_diffusion.analysis_plots`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from koopkit import EDMD
from koopkit.analysis import linear_residual
from koopkit.dictionaries import Polynomial
from koopkit.linalg import truncated_svd
from koopkit_diffusion.edm import heun_sample

__all__ = [
    "ProximityResult",
    "RepresentabilityResult",
    "cluster_labels",
    "flow_representability",
    "knn_label_agreement",
    "kdm_latents",
    "latent_semantic_proximity",
    "noise_partition",
]


def _np(x: Any, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n, ...) with features, got {x.shape}")
    x = x.reshape(x.shape[0], -1)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} contains NaN or Inf")
    return x


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
    x = _np(points, "points")
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
    z, e, s = _np(latents, "latents"), _np(noise, "noise"), _np(semantic, "semantic")
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
    noise : torch.Tensor of shape ``(n, *data_shape)``
        Unscaled ``ε``.
    labels : torch.Tensor of shape (n,), optional
    batch_size : int, default 1024

    Returns
    -------
    latents : torch.Tensor of shape (n, latent_dim), on the CPU
    samples : torch.Tensor of shape ``(n, *data_shape)``, on the CPU
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

    ref = _np(reference, "reference")
    km = KMeans(n_clusters=n_clusters, n_init=4, random_state=seed).fit(ref)
    return [km.labels_] + [km.predict(_np(o, "samples")) for o in others]


def noise_partition(
    noise: Any, teacher_samples: Any, model_samples: Any, n_clusters: int = 8, seed: int = 0
) -> dict[str, Any]:
    """The partition of noise space induced by where each noise lands (2-D data).

    Both generators map the same noises; the samples are assigned to k-means cells fitted on the
    teacher's samples. Plot with :func:`koopkit_diffusion.analysis_plots.plot_noise_partition`.

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
    e = _np(noise, "noise")
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


@dataclass
class RepresentabilityResult:
    """Result of :func:`flow_representability`.

    Attributes
    ----------
    sigmas : ndarray of shape (m,)
        Noise levels of the analysed states, decreasing, first ``σmax``, last 0.
    dims : ndarray of shape (k,), int
        Latent dimensions ``d`` of the residual curves.
    residual_latent : ndarray of shape (m - 1, k)
        Relative residual ``‖Y − Ȳ − (X − X̄)A‖_F / ‖Y − Ȳ‖_F`` of the best affine map from the
        leading ``d`` principal coordinates ``X`` of the latent at ``sigmas[i]`` to those ``Y``
        of the endpoint latent (:func:`koopkit.analysis.linear_residual` on centred data).
    residual_state : ndarray of shape (m - 1, k_state)
        The same on the raw states (identity lifting, ``d`` up to the data dimension).
    dims_state : ndarray of shape (k_state,), int
    semigroup_latent, semigroup_state : ndarray of shape (m - 2,)
        ``‖K_{T→s}K_{s→0} − K_{T→0}‖_F / ‖K_{T→0}‖_F`` for each intermediate ``s = sigmas[1:-1]``
        (EDMD operators with an affine dictionary, full latent).
    semigroup_latent_on_data : ndarray of shape (m - 2,)
        ``‖Ψ_T K_{T→s}K_{s→0} − Ψ_T K_{T→0}‖_F / ‖Ψ_T K_{T→0}‖_F``: the same consistency measured
        on the data, insensitive to directions the data never visits.
    eigenvalues : ndarray of shape (latent_dim,), complex
        Spectrum of the model's learned operator ``K``.
    endpoint : str
    """

    sigmas: np.ndarray
    dims: np.ndarray
    residual_latent: np.ndarray
    residual_state: np.ndarray
    dims_state: np.ndarray
    semigroup_latent: np.ndarray
    semigroup_state: np.ndarray
    semigroup_latent_on_data: np.ndarray
    eigenvalues: np.ndarray
    endpoint: str = "data"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (lists of floats; eigenvalues as modulus and phase)."""
        out = {}
        for name, value in self.__dict__.items():
            if name == "eigenvalues":
                out["eigenvalue_modulus"] = np.abs(value).tolist()
                out["eigenvalue_phase"] = np.angle(value).tolist()
                out["spectral_radius"] = float(np.max(np.abs(value))) if value.size else None
            elif isinstance(value, np.ndarray):
                out[name] = value.tolist()
            else:
                out[name] = value
        return out


def _principal_coordinates(z: np.ndarray) -> np.ndarray:
    """Centred coordinates along all principal directions, leading first."""
    zc = z - z.mean(axis=0)
    _, _, vh = truncated_svd(zc, -1, "svd")
    return zc @ vh.T


def _residual_curve(zs: list[np.ndarray], dims: np.ndarray) -> np.ndarray:
    """Residual from each time's leading-d coordinates to the endpoint's.

    On centred coordinates the best linear map is the best affine map of the raw ones, and the
    residual is relative to the endpoint's spread ``‖Y − Ȳ‖``.
    """
    coords = [_principal_coordinates(z) for z in zs]
    return np.array(
        [[linear_residual(c[:, :d], coords[-1][:, :d]) for d in dims] for c in coords[:-1]]
    )


def _semigroup(zs: list[np.ndarray], rank: Any) -> tuple[np.ndarray, np.ndarray]:
    def fit(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return EDMD(dictionary=Polynomial(degree=1), rank=rank).fit(x, y).koopman_matrix_

    lift = Polynomial(degree=1).fit(zs[0])
    psi_t = lift.transform(zs[0])
    k_t0 = fit(zs[0], zs[-1])
    errors, on_data = [], []
    for z_s in zs[1:-1]:
        composed = fit(zs[0], z_s) @ fit(z_s, zs[-1])
        errors.append(np.linalg.norm(composed - k_t0) / np.linalg.norm(k_t0))
        on_data.append(np.linalg.norm(psi_t @ (composed - k_t0)) / np.linalg.norm(psi_t @ k_t0))
    return np.array(errors), np.array(on_data)


@torch.no_grad()
def _encode_states(
    model: Any, states: torch.Tensor, final: bool, endpoint: str, labels
) -> np.ndarray:
    ref = next(model.parameters())
    x = states.to(ref.device, ref.dtype)
    if final and endpoint == "data":
        z = model.encode_data(x, labels)
    else:
        # encode_noise multiplies by σmax: pass x_t/σmax so that E_T sees the state x_t itself.
        z = model.encode_noise(x / model.sigma_max, labels)
    return z.reshape(z.shape[0], -1).double().cpu().numpy()


def flow_representability(
    model: Any,
    teacher: Callable,
    noise: torch.Tensor,
    labels: torch.Tensor | None = None,
    teacher_labels: Any = "same",
    n_steps: int = 18,
    time_indices: Any = None,
    dims: Any = None,
    endpoint: str = "data",
    rank: Any = 0.9999,
) -> RepresentabilityResult:
    """Finite-dimensional representability of the teacher's flow in the model's latents.

    Runs ``heun_sample(teacher, noise, n_steps, return_trajectory=True)`` (with the model's
    ``σmax``), encodes chosen states (see the module docstring for what is encoded at each time)
    and measures how linear the maps between times are.

    Parameters
    ----------
    model : KDM-like
        ``encode_noise``, ``encode_data`` (for ``endpoint="data"``), ``operator.eigenvalues()``,
        ``sigma_max``.
    teacher : callable
        ``denoiser(x, sigma, labels)``.
    noise : torch.Tensor of shape ``(n, *data_shape)``
        Unscaled ``ε``; ``n`` should exceed the latent dimension for meaningful fits.
    labels : torch.Tensor of shape (n,), optional
        Classes given to the model's encoders (conditional models).
    teacher_labels : torch.Tensor of shape (n,) or None, default "same"
        Classes given to the teacher; ``"same"`` uses ``labels`` (a conditional teacher
        distilled into an unconditional model needs them here only).
    n_steps : int, default 18
        Heun steps of the teacher trajectory.
    time_indices : sequence of int, optional
        Indices into the ``n_steps + 1`` trajectory states (0 is ``x_T``, ``n_steps`` is
        ``x_0``); default ``0, n/4, n/2, 3n/4, n``. Must start at 0 and end at ``n_steps``.
    dims : sequence of int, optional
        Latent dimensions of the residual curves (default ``1, 2, 4, …, latent_dim``).
    endpoint : {"data", "noise"}, default "data"
        Encoder of the final state: ``E_0`` (the space ``K`` maps into) or ``E_T``.
    rank : int, float or None, default 0.9999
        SVD truncation of the EDMD fits of the semigroup check (:mod:`koopkit.linalg` rules).

    Returns
    -------
    RepresentabilityResult
    """
    if endpoint not in ("data", "noise"):
        raise ValueError(f"endpoint must be 'data' or 'noise', got {endpoint!r}")
    if time_indices is None:
        time_indices = sorted({0, n_steps // 4, n_steps // 2, (3 * n_steps) // 4, n_steps})
    time_indices = [int(i) for i in time_indices]
    if time_indices[0] != 0 or time_indices[-1] != n_steps or len(time_indices) < 2:
        raise ValueError(f"time_indices must start at 0 and end at {n_steps}, got {time_indices}")
    if sorted(set(time_indices)) != time_indices:
        raise ValueError(f"time_indices must be strictly increasing, got {time_indices}")
    if isinstance(teacher_labels, str):
        if teacher_labels != "same":
            raise ValueError(
                f"teacher_labels must be a tensor, None or 'same', got {teacher_labels!r}"
            )
        teacher_labels = labels
    run = heun_sample(
        teacher, noise, n_steps, teacher_labels, sigma_max=model.sigma_max, return_trajectory=True
    )
    states = run.trajectory[time_indices]
    last = len(time_indices) - 1
    zs = [_encode_states(model, s, i == last, endpoint, labels) for i, s in enumerate(states)]
    xs = [_np(s, "state") for s in states]
    latent_dim = zs[0].shape[1]
    if dims is None:
        dims = sorted({*(2**p for p in range(int(np.log2(latent_dim)) + 1)), latent_dim})
    dims = np.asarray(list(dims), dtype=int)
    if dims.min() < 1 or dims.max() > min(latent_dim, noise.shape[0]):
        raise ValueError(f"dims must lie in 1..{min(latent_dim, noise.shape[0])}, got {dims}")
    dims_state = np.arange(1, xs[0].shape[1] + 1) if xs[0].shape[1] <= 8 else dims
    dims_state = dims_state[dims_state <= min(xs[0].shape)]
    sg_latent, sg_latent_data = _semigroup(zs, rank)
    sg_state, _ = _semigroup(xs, rank)
    return RepresentabilityResult(
        sigmas=run.sigmas[time_indices].double().cpu().numpy(),
        dims=dims,
        residual_latent=_residual_curve(zs, dims),
        residual_state=_residual_curve(xs, dims_state),
        dims_state=dims_state,
        semigroup_latent=sg_latent,
        semigroup_state=sg_state,
        semigroup_latent_on_data=sg_latent_data,
        eigenvalues=model.operator.eigenvalues().detach().cpu().numpy().astype(np.complex128),
        endpoint=endpoint,
    )
