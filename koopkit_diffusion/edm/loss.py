"""EDM's training loss (Karras et al. 2022, Eq. 2 and Table 1)."""

from __future__ import annotations

import torch

from .precond import Denoiser

__all__ = ["edm_loss"]


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
