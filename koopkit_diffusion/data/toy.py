"""Toy 2-D distributions (generated, never downloaded) and the checkerboard's exact denoiser."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

__all__ = [
    "TOY_2D",
    "checkerboard",
    "checkerboard_denoiser",
    "eight_gaussians",
    "moons",
    "swiss_roll",
    "toy_2d",
]


def _check_n(n: int) -> int:
    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    return int(n)


def _as_tensor(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))


def checkerboard(n: int, seed: int = 0) -> torch.Tensor:
    """4×4 checkerboard: ``x1 ~ U[−2, 2]``, ``x2 = U[0, 1] − 2B + (⌊x1⌋ mod 2)``, ``B ~ Bern(½)``.

    Both coordinates are divided by 0.45 (the scale of the KDM experiments, Berman et al. 2025).

    Parameters
    ----------
    n : int
        Number of samples.
    seed : int, default 0

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    rng = np.random.default_rng(seed)
    n = _check_n(n)
    x1 = rng.uniform(-2.0, 2.0, n)
    x2 = rng.uniform(0.0, 1.0, n) - 2.0 * rng.integers(0, 2, n) + np.floor(x1) % 2
    return _as_tensor(np.stack([x1, x2], axis=1) / 0.45)


def checkerboard_denoiser() -> Callable[..., torch.Tensor]:
    """Exact optimal denoiser ``D(x, σ) = E[y | y + σn = x]`` of :func:`checkerboard`.

    The checkerboard is uniform on 8 squares ``S_k = [a_k, a_k + w] × [b_k, b_k + w]``
    (``w = 1/0.45``). Given ``x``, square ``k`` has posterior weight ``∝ Π_d (Φ(β_d) − Φ(α_d))``
    with ``α_d = (a_{k,d} − x_d)/σ``, ``β_d = α_d + w/σ``, and within it each coordinate is a
    truncated normal with mean ``x_d + σ(φ(α_d) − φ(β_d))/(Φ(β_d) − Φ(α_d))``. Computed in
    float64 with log-space masses, so it is stable for all ``σ > 0``. An analytic teacher:
    running :func:`koopkit_diffusion.edm.sampler.heun_sample` on it isolates the sampler's
    discretisation error.

    Returns
    -------
    callable
        ``denoiser(x, sigma, labels=None)`` with ``x`` of shape (batch, 2) and ``sigma`` of shape
        (batch,); returns (batch, 2) in the dtype of ``x``.
    """
    w = 1.0 / 0.45
    corners = (
        torch.tensor(
            [(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0],
            dtype=torch.float64,
        )
        * w
    )
    log_sqrt_2pi = 0.5 * np.log(2 * np.pi)

    def log_mass(alpha: torch.Tensor, beta: torch.Tensor) -> torch.Tensor:
        # log(Φ(β) − Φ(α)) for β > α; evaluated on the side where both tails are small.
        flip = alpha > 0
        a, b = torch.where(flip, -beta, alpha), torch.where(flip, -alpha, beta)
        log_b, log_a = torch.special.log_ndtr(b), torch.special.log_ndtr(a)
        return log_b + torch.log1p(-torch.exp(log_a - log_b).clamp(max=1 - 1e-16))

    def denoise(x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None):
        if x.ndim != 2 or x.shape[1] != 2:
            raise ValueError(f"x must have shape (batch, 2), got {tuple(x.shape)}")
        s = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1, 1, 1)
        xx = x.to(torch.float64)[:, None, :]
        alpha = (corners.to(x.device)[None] - xx) / s
        beta = alpha + w / s
        log_z = log_mass(alpha, beta)
        log_phi_a = -0.5 * alpha**2 - log_sqrt_2pi
        log_phi_b = -0.5 * beta**2 - log_sqrt_2pi
        mean = xx + s * (torch.exp(log_phi_a - log_z) - torch.exp(log_phi_b - log_z))
        weight = torch.softmax(log_z.sum(-1), dim=1)
        return (weight[..., None] * mean).sum(1).to(x.dtype)

    return denoise


def eight_gaussians(n: int, seed: int = 0) -> torch.Tensor:
    """Mixture of 8 Gaussians (std 0.5) centred on a circle of radius 4, all divided by √2.

    The toy set of Grathwohl et al., "FFJORD" (ICLR 2019).

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    rng = np.random.default_rng(seed)
    n = _check_n(n)
    angles = np.pi / 4 * rng.integers(0, 8, n)
    centres = 4.0 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return _as_tensor((centres + 0.5 * rng.standard_normal((n, 2))) / 1.414)


def moons(n: int, seed: int = 0, noise: float = 0.1) -> torch.Tensor:
    """Two interleaving half circles (scikit-learn ``make_moons``), as ``2·x + (−1, −0.2)``.

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    from sklearn.datasets import make_moons

    x, _ = make_moons(_check_n(n), noise=noise, random_state=seed)
    return _as_tensor(2.0 * x + np.array([-1.0, -0.2]))


def swiss_roll(n: int, seed: int = 0, noise: float = 1.0) -> torch.Tensor:
    """2-D Swiss roll: coordinates (x, z) of scikit-learn's ``make_swiss_roll``, divided by 5.

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    from sklearn.datasets import make_swiss_roll

    x, _ = make_swiss_roll(_check_n(n), noise=noise, random_state=seed)
    return _as_tensor(x[:, [0, 2]] / 5.0)


TOY_2D: dict[str, Callable[..., torch.Tensor]] = {
    "checkerboard": checkerboard,
    "eight_gaussians": eight_gaussians,
    "moons": moons,
    "swiss_roll": swiss_roll,
}


def toy_2d(name: str, n: int, seed: int = 0) -> torch.Tensor:
    """Draw ``n`` samples of the toy distribution ``name`` (a key of :data:`TOY_2D`).

    Returns
    -------
    torch.Tensor of shape (n, 2), float32
    """
    if name not in TOY_2D:
        raise ValueError(f"unknown toy distribution {name!r}; expected one of {sorted(TOY_2D)}")
    return TOY_2D[name](n, seed=seed)
