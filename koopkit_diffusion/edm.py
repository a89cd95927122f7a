"""EDM: preconditioned denoiser, training loss, noise schedule and deterministic Heun sampler.

Everything here follows Karras, Aittala, Aila, Laine, "Elucidating the Design Space of
Diffusion-Based Generative Models" (NeurIPS 2022), with the paper's names:

* :class:`EDMPrecond` — ``D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ))`` (Table 1);
* :func:`edm_loss` — ``λ(σ)·‖D(y + σn, σ) − y‖²``, ``ln σ ~ N(P_mean, P_std²)`` (Eq. 2, Table 1);
* :func:`sigma_schedule` — the ρ-spaced time steps (Eq. 5);
* :func:`heun_sample` — the deterministic 2nd-order sampler (Algorithm 1).

A *teacher* is any callable ``denoiser(x, sigma, labels)`` returning the denoised estimate of
``x`` at noise level ``sigma`` (a tensor of shape ``(batch,)``); :class:`EDMPrecond` around a
network from :mod:`koopkit_diffusion.nets` is one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

__all__ = [
    "EDMPrecond",
    "HeunSample",
    "edm_loss",
    "exact_gaussian_denoiser",
    "heun_sample",
    "one_hot_labels",
    "precond_coefficients",
    "sigma_schedule",
]

Denoiser = Callable[[torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]


def precond_coefficients(
    sigma: torch.Tensor, sigma_data: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """EDM preconditioning coefficients (Karras et al. 2022, Table 1, "Ours").

    ``c_skip = σd²/(σ²+σd²)``, ``c_out = σ·σd/√(σ²+σd²)``, ``c_in = 1/√(σ²+σd²)``,
    ``c_noise = ln(σ)/4``.

    Parameters
    ----------
    sigma : torch.Tensor
        Noise levels, any shape, positive.
    sigma_data : float, default 0.5
        Standard deviation of the data.

    Returns
    -------
    c_skip, c_out, c_in, c_noise : torch.Tensor
        Each of the same shape as ``sigma``.
    """
    sd2 = sigma_data**2
    denom = sigma**2 + sd2
    c_skip = sd2 / denom
    c_out = sigma * sigma_data / denom.sqrt()
    c_in = 1.0 / denom.sqrt()
    c_noise = sigma.log() / 4
    return c_skip, c_out, c_in, c_noise


class EDMPrecond(nn.Module):
    """Preconditioned denoiser ``D(x, σ, y) = c_skip·x + c_out·F(c_in·x, c_noise, y)``.

    Karras et al. 2022, Eq. 7 with the coefficients of Table 1 (see :func:`precond_coefficients`).
    The raw network is called as ``net(c_in·x, c_noise, class_labels)`` with ``c_noise`` of shape
    ``(batch,)`` and ``class_labels`` either ``None`` (``label_dim == 0``) or a float one-hot /
    weight matrix of shape ``(batch, label_dim)``.

    The network runs in its own parameter dtype; the input is cast to it and the output is cast
    back to the dtype of ``x``, so a float32 network can drive a float64 sampler.

    Parameters
    ----------
    net : torch.nn.Module
        Raw network ``F``, e.g. :class:`koopkit_diffusion.nets.MLPNet` or
        :class:`koopkit_diffusion.nets.UNet`.
    sigma_data : float, default 0.5
        Standard deviation of the (scaled) data.
    label_dim : int, default 0
        Number of classes; 0 for an unconditional model.
    """

    def __init__(self, net: nn.Module, sigma_data: float = 0.5, label_dim: int = 0) -> None:
        super().__init__()
        if sigma_data <= 0:
            raise ValueError(f"sigma_data must be positive, got {sigma_data}")
        if label_dim < 0:
            raise ValueError(f"label_dim must be >= 0, got {label_dim}")
        self.net = net
        self.sigma_data = float(sigma_data)
        self.label_dim = int(label_dim)

    def _class_labels(self, labels: torch.Tensor | None, batch: int, ref: torch.Tensor):
        if self.label_dim == 0:
            if labels is not None:
                raise ValueError("labels were given to an unconditional model (label_dim=0)")
            return None
        if labels is None:
            # The all-zero label vector: the unconditional embedding used by EDM.
            return torch.zeros(batch, self.label_dim, device=ref.device, dtype=ref.dtype)
        return one_hot_labels(labels, self.label_dim, batch).to(device=ref.device, dtype=ref.dtype)

    def forward(
        self, x: torch.Tensor, sigma: torch.Tensor | float, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Denoise ``x`` at noise level ``sigma``.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, ...)
            Noisy input ``y + σ·n``.
        sigma : torch.Tensor of shape (batch,) or (), or float
            Noise levels, positive.
        labels : torch.Tensor of shape (batch,) (integer classes) or (batch, label_dim), optional
            Class labels for a conditional model.

        Returns
        -------
        torch.Tensor of the shape and dtype of ``x``
            The denoised estimate ``D(x, σ)``.
        """
        batch = x.shape[0]
        param = next(self.net.parameters(), None)
        net_dtype = param.dtype if param is not None else x.dtype
        sigma = torch.as_tensor(sigma, device=x.device, dtype=net_dtype)
        if sigma.ndim == 0:
            sigma = sigma.expand(batch)
        sigma = sigma.reshape(batch, *([1] * (x.ndim - 1)))
        c_skip, c_out, c_in, c_noise = precond_coefficients(sigma, self.sigma_data)
        x_net = x.to(net_dtype)
        class_labels = self._class_labels(labels, batch, x_net)
        f_x = self.net(c_in * x_net, c_noise.reshape(batch), class_labels)
        return (c_skip * x_net + c_out * f_x.to(net_dtype)).to(x.dtype)


def one_hot_labels(labels: torch.Tensor, label_dim: int, batch: int) -> torch.Tensor:
    """Integer classes ``(batch,)`` -> one-hot ``(batch, label_dim)``; a float matrix is kept.

    Raises
    ------
    ValueError
        If the shape is neither, or a class index lies outside ``[0, label_dim)``.
    """
    labels = torch.as_tensor(labels)
    if labels.ndim == 1 and not labels.is_floating_point():
        if labels.shape[0] != batch:
            raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
        if labels.numel() and (labels.min() < 0 or labels.max() >= label_dim):
            raise ValueError(f"class labels must lie in [0, {label_dim}), got {labels.tolist()}")
        return nn.functional.one_hot(labels.long(), label_dim).float()
    if labels.shape != (batch, label_dim):
        raise ValueError(
            f"labels must be integer classes of shape ({batch},) or a float matrix of shape "
            f"({batch}, {label_dim}), got {tuple(labels.shape)} ({labels.dtype})"
        )
    return labels


def edm_loss(
    denoiser: Denoiser,
    x: torch.Tensor,
    labels: torch.Tensor | None = None,
    P_mean: float = -1.2,  # noqa: N803 (the paper's name)
    P_std: float = 1.2,  # noqa: N803
    sigma_data: float = 0.5,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """EDM training loss per sample (Karras et al. 2022, Eq. 2 and Table 1).

    Draws ``ln σ ~ N(P_mean, P_std²)`` and ``n ~ N(0, I)``, and returns
    ``λ(σ)·mean((D(x + σn, σ) − x)²)`` with ``λ(σ) = (σ² + σd²)/(σ·σd)²``. The squared error is
    averaged over the non-batch dimensions (EDM sums them; the mean keeps the scale independent of
    the resolution), so the result is **per sample**: call ``.mean()`` for the batch loss.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, labels)`` with ``sigma`` of shape ``(batch,)``.
    x : torch.Tensor of shape (batch, ...)
        Clean training data (scaled so that its std is about ``sigma_data``).
    labels : torch.Tensor, optional
        Class labels passed through to the denoiser.
    P_mean, P_std : float, default -1.2, 1.2
        Log-normal noise-level distribution.
    sigma_data : float, default 0.5
        Data standard deviation in the loss weight.
    generator : torch.Generator, optional
        Generator (on ``x``'s device) for σ and the noise, for reproducible losses.

    Returns
    -------
    torch.Tensor of shape (batch,)
        Weighted loss of each sample.
    """
    batch = x.shape[0]
    rnd = torch.randn(batch, device=x.device, dtype=x.dtype, generator=generator)
    sigma = (rnd * P_std + P_mean).exp()
    noise = torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=generator)
    weight = (sigma**2 + sigma_data**2) / (sigma * sigma_data) ** 2
    x_noisy = x + sigma.reshape(batch, *([1] * (x.ndim - 1))) * noise
    denoised = denoiser(x_noisy, sigma, labels)
    return weight * (denoised - x).square().reshape(batch, -1).mean(dim=1)


def sigma_schedule(
    n_steps: int,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """EDM time steps ``t_i = (σmax^(1/ρ) + i/(N−1)·(σmin^(1/ρ) − σmax^(1/ρ)))^ρ`` and ``t_N = 0``.

    Karras et al. 2022, Eq. 5. With ``n_steps == 1`` the schedule is ``[σmax, 0]``.

    Parameters
    ----------
    n_steps : int
        Number of sampler steps ``N >= 1``.
    sigma_min, sigma_max : float, default 0.002, 80.0
        Smallest nonzero and largest noise level, ``0 < sigma_min < sigma_max``.
    rho : float, default 7.0
        Spacing exponent (ρ = 7 in the paper).
    dtype, device : optional
        Of the returned tensor (float64 by default).

    Returns
    -------
    torch.Tensor of shape (n_steps + 1,)
        Decreasing noise levels, first ``sigma_max``, then ``sigma_min`` at index ``N−1``, last 0.
    """
    if int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f"n_steps must be a positive integer, got {n_steps}")
    if not 0 < sigma_min < sigma_max:
        raise ValueError(
            f"need 0 < sigma_min < sigma_max, got sigma_min={sigma_min}, sigma_max={sigma_max}"
        )
    if rho <= 0:
        raise ValueError(f"rho must be positive, got {rho}")
    n_steps = int(n_steps)
    if n_steps == 1:
        t = torch.tensor([float(sigma_max)], dtype=torch.float64)
    else:
        i = torch.arange(n_steps, dtype=torch.float64)
        a, b = sigma_max ** (1 / rho), sigma_min ** (1 / rho)
        t = (a + i / (n_steps - 1) * (b - a)) ** rho
        t[0], t[-1] = sigma_max, sigma_min  # exact end points despite rounding
    t = torch.cat([t, torch.zeros(1, dtype=torch.float64)])
    return t.to(dtype=dtype, device=device)


@dataclass
class HeunSample:
    """Result of :func:`heun_sample`.

    Attributes
    ----------
    samples : torch.Tensor of the shape of ``noise``
        Final states ``x_N`` (approximations of data samples).
    nfe : int
        Number of denoiser evaluations, ``2N − 1``.
    sigmas : torch.Tensor of shape (n_steps + 1,)
        The schedule used (last entry 0).
    trajectory : torch.Tensor of shape (n_steps + 1, batch, ...) or None
        States ``x_0 = σmax·ε, x_1, ..., x_N`` at the noise levels ``sigmas``, when requested.
    """

    samples: torch.Tensor
    nfe: int
    sigmas: torch.Tensor
    trajectory: torch.Tensor | None = None


def heun_sample(
    denoiser: Denoiser,
    noise: torch.Tensor,
    n_steps: int = 18,
    labels: torch.Tensor | None = None,
    sigma_min: float = 0.002,
    sigma_max: float = 80.0,
    rho: float = 7.0,
    return_trajectory: bool = False,
    dtype: torch.dtype | None = None,
) -> HeunSample:
    """Deterministic EDM sampler: Euler step plus Heun correction (Karras et al. 2022, Algorithm 1).

    Integrates the probability-flow ODE ``dx/dσ = (x − D(x, σ))/σ`` from ``x_0 = σmax·ε`` along
    :func:`sigma_schedule`; the Heun correction is skipped on the last step (to ``σ = 0``), so
    ``N`` steps cost ``2N − 1`` evaluations (35 for ``N = 18``). Gradients are not tracked.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, labels)`` with ``sigma`` of shape ``(batch,)``; returns ``D(x, σ)``.
    noise : torch.Tensor of shape (batch, ...)
        **Unscaled** standard normal noise ``ε``.
    n_steps : int, default 18
        Number of steps ``N``.
    labels : torch.Tensor, optional
        Class labels passed unchanged to the denoiser.
    sigma_min, sigma_max, rho : float, default 0.002, 80.0, 7.0
        Schedule parameters (see :func:`sigma_schedule`).
    return_trajectory : bool, default False
        Also return all ``N + 1`` states (memory ``(N + 1)×`` the batch).
    dtype : torch.dtype, optional
        Dtype of the ODE state (e.g. ``torch.float64`` for small data); default ``noise.dtype``.
        The denoiser receives the state in this dtype (an :class:`EDMPrecond` casts internally).

    Returns
    -------
    HeunSample
        ``samples`` (shape of ``noise``, dtype ``dtype``), ``nfe``, ``sigmas``, ``trajectory``.
    """
    if noise.ndim < 1 or noise.shape[0] == 0:
        raise ValueError(f"noise must have shape (batch, ...) with batch >= 1, got {noise.shape}")
    dtype = noise.dtype if dtype is None else dtype
    sigmas = sigma_schedule(n_steps, sigma_min, sigma_max, rho, dtype=dtype, device=noise.device)
    batch = noise.shape[0]
    nfe = 0

    def d(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        nonlocal nfe
        nfe += 1
        return denoiser(x, sigma.expand(batch), labels).to(dtype)

    with torch.no_grad():
        x = noise.to(dtype) * sigmas[0]
        states = [x] if return_trajectory else None
        for i in range(len(sigmas) - 1):
            t_cur, t_next = sigmas[i], sigmas[i + 1]
            d_cur = (x - d(x, t_cur)) / t_cur
            x_next = x + (t_next - t_cur) * d_cur
            if i < len(sigmas) - 2:
                d_next = (x_next - d(x_next, t_next)) / t_next
                x_next = x + (t_next - t_cur) * (0.5 * d_cur + 0.5 * d_next)
            x = x_next
            if states is not None:
                states.append(x)
    trajectory = torch.stack(states) if states is not None else None
    return HeunSample(samples=x, nfe=nfe, sigmas=sigmas, trajectory=trajectory)


def exact_gaussian_denoiser(mean: float, std: float) -> Denoiser:
    """Optimal denoiser for data ``N(mean, std²)`` (per coordinate): ``m + s²/(s²+σ²)·(x − m)``.

    Useful as an analytic teacher: the probability-flow ODE from ``σmax·ε`` ends exactly at
    ``m + s·ε·σmax/√(s² + σmax²)``.
    """
    if std <= 0:
        raise ValueError(f"std must be positive, got {std}")

    def denoise(x: torch.Tensor, sigma: torch.Tensor, labels=None) -> torch.Tensor:
        s = sigma.reshape(x.shape[0], *([1] * (x.ndim - 1))).to(x.dtype)
        return mean + std**2 / (std**2 + s**2) * (x - mean)

    return denoise
