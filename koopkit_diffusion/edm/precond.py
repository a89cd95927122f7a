"""EDM's preconditioned denoiser (Karras, Aittala, Aila, Laine, NeurIPS 2022, Table 1).

``D(x, σ) = c_skip(σ)·x + c_out(σ)·F(c_in(σ)·x, c_noise(σ))``, with the paper's names. A
*denoiser* is any callable ``denoiser(x, sigma, labels)`` returning the denoised estimate of ``x``
at noise level ``sigma`` (a tensor of shape ``(batch,)``); :class:`EDMPrecond` around a network
from :mod:`koopkit_diffusion.edm.nets` is one.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import nn

from .labels import one_hot

__all__ = ["Denoiser", "EDMPrecond", "input_scale", "precond_coefficients"]

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
        Raw network ``F``, e.g. :class:`koopkit_diffusion.edm.nets.mlp.MLPNet` or
        :class:`koopkit_diffusion.edm.nets.unet.UNet`.
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

    def forward(
        self,
        x: torch.Tensor,
        sigma: torch.Tensor | float,
        labels: torch.Tensor | None = None,
        augment_labels: torch.Tensor | None = None,
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
        augment_labels : torch.Tensor of shape (batch, augment_dim), optional
            EDM's augmentation labels, passed to the network (training with augmentation only).

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
        # No labels for a conditional model: the all-zero vector, EDM's unconditional embedding.
        class_labels = one_hot(labels, self.label_dim, batch, x_net, missing="zeros")
        extra = {} if augment_labels is None else {"augment_labels": augment_labels}
        f_x = self.net(c_in * x_net, c_noise.reshape(batch), class_labels, **extra)
        return (c_skip * x_net + c_out * f_x.to(net_dtype)).to(x.dtype)


def input_scale(sigma: float, sigma_data: float = 0.5) -> float:
    """EDM's ``c_in(σ) = 1/√(σ² + σ_data²)`` as a float (Table 1): unit-variance network input.

    KDM's noise encoder scales ``x_T = σmax·ε`` by ``c_in(σmax)`` with the teacher's
    ``sigma_data``.
    """
    if sigma <= 0 or sigma_data <= 0:
        raise ValueError(f"sigma and sigma_data must be positive, got {sigma} and {sigma_data}")
    return 1.0 / math.sqrt(sigma**2 + sigma_data**2)
