"""Encoder and decoder networks of the Koopman Distillation Model and the KD baseline.

Flat data (the 2-D toys) uses plain MLPs; images use the project's UNet
(:class:`koopkit_diffusion.nets.UNet`, called without a noise level) with ``latent_channels``
output channels at full resolution, optionally followed by a linear projection to
``latent_dim`` (Berman et al. 2025, §4 and appendix on architectures).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ACTIVATIONS", "MLP", "UNetEncoder", "UNetDecoder", "one_hot"]

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    # In place after a Linear: ReLU's backward needs only its output, saving one allocation.
    return nn.ReLU(inplace=True) if name == "relu" else ACTIVATIONS[name]()


def one_hot(labels: torch.Tensor | None, label_dim: int, batch: int, ref: torch.Tensor):
    """Integer labels ``(batch,)`` (or already one-hot ``(batch, label_dim)``) as float one-hot.

    Returns ``None`` for unconditional models (``label_dim == 0``).
    """
    if label_dim == 0:
        if labels is not None:
            raise ValueError("labels were given to an unconditional model (label_dim=0)")
        return None
    if labels is None:
        raise ValueError(
            f"a conditional model (label_dim={label_dim}) needs labels of shape (batch,)"
        )
    if labels.ndim == 2 and labels.shape == (batch, label_dim):
        return labels.to(device=ref.device, dtype=ref.dtype)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    labels = labels.to(ref.device).long()
    if labels.min() < 0 or labels.max() >= label_dim:
        raise ValueError(
            f"labels must lie in [0, {label_dim}), got [{labels.min()}, {labels.max()}]"
        )
    return F.one_hot(labels, label_dim).to(ref.dtype)


class MLP(nn.Module):
    """``in_dim → [width]·depth → out_dim`` with an activation between layers.

    A class label enters as a learned embedding concatenated to the input.

    Parameters
    ----------
    in_dim, out_dim : int
    width : int, default 256
    depth : int, default 3
        Number of hidden layers.
    activation : {"silu", "relu", "gelu", "tanh"}, default "silu"
    label_dim : int, default 0
        Number of classes (0: unconditional).
    input_scale : float, default 1.0
        Inputs are multiplied by this first (the noise encoder uses ``1/√(σmax² + σ_data²)``).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        width: int = 256,
        depth: int = 3,
        activation: str = "silu",
        label_dim: int = 0,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of {sorted(ACTIVATIONS)}"
            )
        if width < 1 or depth < 1:
            raise ValueError(f"MLP width and depth must be positive, got {width} and {depth}")
        self.label_dim = label_dim
        self.input_scale = float(input_scale)
        self.label_embed = nn.Linear(label_dim, width, bias=False) if label_dim else None
        layers: list[nn.Module] = [nn.Linear(in_dim, width), _activation(activation)]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), _activation(activation)]
        layers.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Map ``(batch, in_dim)`` (and optional labels ``(batch,)``) to ``(batch, out_dim)``."""
        h = x.flatten(1) * self.input_scale if self.input_scale != 1.0 else x.flatten(1)
        y = one_hot(labels, self.label_dim, h.shape[0], h)
        if y is None:
            return self.net(h)
        h = self.net[0](h) + self.label_embed(y)
        return self.net[1:](h)


def _unet(in_channels: int, out_channels: int, resolution: int, label_dim: int, unet: dict):
    from koopkit_diffusion.nets import UNet

    return UNet(
        img_resolution=resolution,
        in_channels=in_channels,
        out_channels=out_channels,
        label_dim=label_dim,
        **unet,
    )


class UNetEncoder(nn.Module):
    """Image ``(C, H, W)`` → UNet with ``latent_channels`` outputs → flat latent (+ projection).

    Parameters
    ----------
    data_shape : tuple (C, H, W)
    latent_channels : int
    latent_dim : int or None
        Linear projection of the ``latent_channels·H·W`` features to this size; ``None`` keeps them.
    label_dim : int
    unet : dict
        Keyword arguments of :class:`koopkit_diffusion.nets.UNet` (``model_channels``,
        ``channel_mult``, ``num_blocks``, ``attn_resolutions``, ``dropout``).
    input_scale : float, default 1.0
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        latent_channels: int,
        latent_dim: int | None,
        label_dim: int,
        unet: dict,
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        c, h, w = data_shape
        self.label_dim = label_dim
        self.input_scale = float(input_scale)
        self.net = _unet(c, latent_channels, h, label_dim, unet)
        flat = latent_channels * h * w
        self.proj = nn.Linear(flat, latent_dim) if latent_dim is not None else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, C, H, W)`` → ``(batch, latent_dim)``."""
        y = one_hot(labels, self.label_dim, x.shape[0], x)
        h = self.net(x * self.input_scale, noise_labels=None, class_labels=y).flatten(1)
        return self.proj(h) if self.proj is not None else h


class UNetDecoder(nn.Module):
    """Flat latent → (inverse projection) → ``(latent_channels, H, W)`` → UNet → image.

    Parameters as in :class:`UNetEncoder`.
    """

    def __init__(
        self,
        data_shape: tuple[int, int, int],
        latent_channels: int,
        latent_dim: int | None,
        label_dim: int,
        unet: dict,
    ) -> None:
        super().__init__()
        c, h, w = data_shape
        self.label_dim = label_dim
        self.latent_shape = (latent_channels, h, w)
        flat = math.prod(self.latent_shape)
        self.proj = nn.Linear(latent_dim, flat) if latent_dim is not None else None
        self.net = _unet(latent_channels, c, h, label_dim, unet)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, latent_dim)`` → ``(batch, C, H, W)``."""
        y = one_hot(labels, self.label_dim, z.shape[0], z)
        h = self.proj(z) if self.proj is not None else z
        return self.net(h.view(z.shape[0], *self.latent_shape), noise_labels=None, class_labels=y)
