"""Discriminators and the non-saturating adversarial losses (Goodfellow et al. 2014) of KDM.

For images, a small GroupNorm patch discriminator (the project's) or the KDM authors' DCGAN-style
one (BatchNorm, one logit per 32×32 image); an MLP for flat data. The adversarial term enters the
KDM objective with weight ``0.01·w``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "DISCRIMINATORS",
    "DCGANDiscriminator",
    "MLPDiscriminator",
    "PatchDiscriminator",
    "discriminator_adversarial_loss",
    "generator_adversarial_loss",
    "make_discriminator",
]


class PatchDiscriminator(nn.Module):
    """A small PatchGAN discriminator (Isola et al. 2017): one logit per image patch.

    Strided 4×4 convolutions halve the resolution ``n_layers`` times (stopping at 4×4), with
    LeakyReLU(0.2) and GroupNorm, then a 3×3 convolution to one channel.

    Parameters
    ----------
    in_channels : int
    channels : int, default 64
        Width of the first layer; doubled per layer up to 8×.
    n_layers : int, default 3

    Notes
    -----
    ``forward(x)`` maps ``(batch, in_channels, H, W)`` to logits ``(batch, 1, H', W')``.
    """

    def __init__(self, in_channels: int, channels: int = 64, n_layers: int = 3) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1 or n_layers < 1:
            raise ValueError("in_channels, channels and n_layers must be positive")
        layers: list[nn.Module] = []
        ch_in, ch = in_channels, channels
        for i in range(n_layers):
            layers.append(nn.Conv2d(ch_in, ch, kernel_size=4, stride=2, padding=1))
            if i > 0:
                layers.append(nn.GroupNorm(min(32, ch // 4) or 1, ch))
            layers.append(nn.LeakyReLU(0.2))
            ch_in, ch = ch, min(ch * 2, channels * 8)
        layers.append(nn.Conv2d(ch_in, 1, kernel_size=3, padding=1))
        self.net = nn.Sequential(*layers)
        self.n_layers = n_layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Patch logits of shape (batch, 1, H', W')."""
        if x.ndim != 4:
            raise ValueError(f"PatchDiscriminator expects (batch, C, H, W), got {tuple(x.shape)}")
        return self.net(x)


class DCGANDiscriminator(nn.Module):
    """The KDM authors' discriminator, DCGAN-style (Radford et al. 2016).

    Three strided 4×4 convolutions (``channels``, 2×, 4× wide) halve the resolution, each followed
    by LeakyReLU(0.2), the last two after BatchNorm; a final 4×4 convolution without padding gives
    the logits: one per 32×32 image, a 5×5 grid per 64×64 image. PyTorch's default
    initialisation. BatchNorm runs in training mode whenever the model trains, real and fake
    batches passing separately, as in the authors' code.

    Parameters
    ----------
    in_channels : int
    channels : int, default 64

    Notes
    -----
    ``forward(x)`` maps ``(batch, in_channels, H, W)``, ``H, W ≥ 32``, to logits
    ``(batch, (H/8 − 3)·(W/8 − 3))``.
    """

    def __init__(self, in_channels: int, channels: int = 64) -> None:
        super().__init__()
        if in_channels < 1 or channels < 1:
            raise ValueError("in_channels and channels must be positive")
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, c, 4, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * c, 4 * c, 4, stride=2, padding=1),
            nn.BatchNorm2d(4 * c),
            nn.LeakyReLU(0.2),
            nn.Conv2d(4 * c, 1, 4),
            nn.Flatten(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, n_logits)."""
        if x.ndim != 4 or min(x.shape[-2:]) < 32:
            raise ValueError(
                f"DCGANDiscriminator expects (batch, C, H, W) with H, W >= 32, got {tuple(x.shape)}"
            )
        return self.net(x)


class MLPDiscriminator(nn.Module):
    """Discriminator for flat data ``(batch, dim)``: an MLP with LeakyReLU(0.2), one logit each.

    Parameters
    ----------
    dim : int
    width : int, default 128
    depth : int, default 3
        Number of hidden layers.
    """

    def __init__(self, dim: int, width: int = 128, depth: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        d = dim
        for _ in range(depth):
            layers += [nn.Linear(d, width), nn.LeakyReLU(0.2)]
            d = width
        layers.append(nn.Linear(d, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of shape (batch, 1)."""
        return self.net(x.flatten(1))


#: Image discriminators by name (``KDMConfig.discriminator``).
DISCRIMINATORS = ("patch", "dcgan")


def make_discriminator(
    shape: tuple[int, ...], channels: int = 64, kind: str = "patch"
) -> nn.Module:
    """The discriminator for samples of ``shape``.

    Images ``(C, H, W)``: a :class:`PatchDiscriminator` (``kind="patch"``, with
    ``min(3, log2(min(H, W)) − 2)`` down-sampling layers so that the patch grid stays at least
    4×4) or a :class:`DCGANDiscriminator` (``kind="dcgan"``). Flat data: an
    :class:`MLPDiscriminator` whatever ``kind``.
    """
    if kind not in DISCRIMINATORS:
        raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, got {kind!r}")
    if len(shape) == 3 and kind == "dcgan":
        return DCGANDiscriminator(shape[0], channels=channels)
    if len(shape) == 3:
        n_layers = max(1, min(3, int(math.log2(min(shape[1:]))) - 2))
        return PatchDiscriminator(shape[0], channels=channels, n_layers=n_layers)
    return MLPDiscriminator(math.prod(shape), width=channels * 2)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating generator loss ``E[softplus(−D(G(z)))] = −E[log σ(D(G(z)))]``."""
    return F.softplus(-fake_logits).mean()


def discriminator_adversarial_loss(
    real_logits: torch.Tensor, fake_logits: torch.Tensor
) -> torch.Tensor:
    """Discriminator loss ``E[softplus(−D(x))] + E[softplus(D(G(z)))]`` (Goodfellow et al. 2014)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
