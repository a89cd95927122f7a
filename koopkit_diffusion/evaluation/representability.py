"""Finite-dimensional representability of the teacher's flow in a KDM's learned coordinates.

The teacher's noise→sample flow is (nearly) linear in a finite set of learned coordinates, KDM
(Berman et al. 2025) claims. :func:`flow_representability` runs the teacher's Heun sampler with
its trajectory, puts the states at intermediate noise levels through the model's encoders, fits
linear (affine) maps between times with :class:`koopkit.EDMD`, and reports their relative residual
against the latent dimension (truncated SVD) and the semigroup consistency
``‖K_{t→s}K_{s→0} − K_{t→0}‖/‖K_{t→0}‖``.

**What is measured at intermediate times.** A KDM has two encoders: ``E_T`` (trained on the
noise ``x_T``) and ``E_0`` (trained on clean samples). Neither ever saw an intermediate state
``x_t``. Here the latent at time ``t > 0`` is ``E_T(x_t)`` — the noise encoder applied outside its
training distribution — and the latent at ``t = 0`` is ``E_0(x_0)``, the space that ``K`` maps
into (``"data"`` endpoint; ``E_T(x_0)`` with ``endpoint="noise"``). The same maps fitted on the
raw states ``x_t`` (identity lifting) are reported as the baseline. A small residual for
``t = T`` says the learned pair of latents linearises the end-to-end map; a small residual and
semigroup error at intermediate times says more: that ``E_T`` coordinates evolve linearly along
the whole flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from koopkit import EDMD
from koopkit.analysis import linear_residual
from koopkit.dictionaries import Polynomial
from koopkit.linalg import truncated_svd

from .arrays import as_matrix

__all__ = ["RepresentabilityResult", "flow_representability"]


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
    teacher: Any,
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

    Runs the teacher's sampler (``teacher.trajectory(noise, labels, n_steps)``, from its own noise
    range), encodes chosen states (see the module docstring for what is encoded at each time)
    and measures how linear the maps between times are.

    Parameters
    ----------
    model : KDM-like
        ``encode_noise``, ``encode_data`` (for ``endpoint="data"``), ``operator.eigenvalues()``,
        ``sigma_max``.
    teacher : Teacher
        Anything with the teacher protocol's ``trajectory``
        (:mod:`koopkit_diffusion.teacher.protocol`).
    noise : torch.Tensor of shape ``(n, *shape)``
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
    trajectory, times = teacher.trajectory(noise, teacher_labels, n_steps)
    states = trajectory[time_indices].cpu()
    last = len(time_indices) - 1
    zs = [_encode_states(model, s, i == last, endpoint, labels) for i, s in enumerate(states)]
    xs = [as_matrix(s, "state", flatten=True) for s in states]
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
        sigmas=times[time_indices].double().cpu().numpy(),
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
