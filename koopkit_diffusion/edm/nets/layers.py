"""Building blocks of the networks: noise embeddings, resampling convolution, UNet block.

The blocks follow the DDPM++ architecture (Song et al., "Score-Based Generative Modeling through
Stochastic Differential Equations", ICLR 2021) in the form used by EDM (Karras et al. 2022,
Appendix F.2): GroupNorm + SiLU + 3×3 convolutions, a noise-embedding shift, residual skips
scaled by 1/√2, and single-head self-attention at chosen resolutions.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "Conv2d",
    "FourierEmbedding",
    "PositionalEmbedding",
    "UNetBlock",
    "group_norm",
]


def _xavier_(weight: torch.Tensor, fan_in: int, fan_out: int, gain: float = 1.0) -> None:
    bound = gain * math.sqrt(6 / (fan_in + fan_out))
    with torch.no_grad():
        weight.uniform_(-bound, bound)


def linear(in_features: int, out_features: int, bias: bool = True, gain: float = 1.0) -> nn.Linear:
    """``nn.Linear`` with Xavier-uniform weights scaled by ``gain`` and zero bias."""
    layer = nn.Linear(in_features, out_features, bias=bias)
    _xavier_(layer.weight, in_features, out_features, gain)
    if bias:
        nn.init.zeros_(layer.bias)
    return layer


def group_norm(channels: int, groups: int = 32, min_channels_per_group: int = 4) -> nn.GroupNorm:
    """GroupNorm with ``min(groups, channels // min_channels_per_group)`` groups, eps 1e-6."""
    return nn.GroupNorm(max(1, min(groups, channels // min_channels_per_group)), channels, eps=1e-6)


class PositionalEmbedding(nn.Module):
    """Sinusoidal embedding of a scalar (Vaswani et al. 2017), with ``endpoint=True`` as DDPM++.

    ``[cos(x·f_k), sin(x·f_k)]`` with ``f_k = (1/max_positions)^(k/(n/2 − 1))``.

    Parameters
    ----------
    num_channels : int
        Output size (even).
    max_positions : int, default 10000
    """

    def __init__(self, num_channels: int, max_positions: int = 10000) -> None:
        super().__init__()
        if num_channels < 4 or num_channels % 2:
            raise ValueError(f"num_channels must be even and >= 4, got {num_channels}")
        half = num_channels // 2
        freqs = (1 / max_positions) ** (torch.arange(half, dtype=torch.float32) / (half - 1))
        self.register_buffer("freqs", freqs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (batch,) -> embedding of shape (batch, num_channels)."""
        x = torch.outer(x.to(self.freqs.dtype), self.freqs)
        return torch.cat([x.cos(), x.sin()], dim=1)


class FourierEmbedding(nn.Module):
    """Random Fourier features of a scalar (Tancik et al. 2020), as in NCSN++.

    ``[cos(2π x·b_k), sin(2π x·b_k)]`` with fixed ``b_k ~ N(0, scale²)``.

    Parameters
    ----------
    num_channels : int
        Output size (even).
    scale : float, default 16
    seed : int, default 0
        Seed of the frequencies, so that the same config builds the same network.
    """

    def __init__(self, num_channels: int, scale: float = 16.0, seed: int = 0) -> None:
        super().__init__()
        if num_channels < 2 or num_channels % 2:
            raise ValueError(f"num_channels must be even and >= 2, got {num_channels}")
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(num_channels // 2, generator=g) * scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (batch,) -> embedding of shape (batch, num_channels)."""
        x = torch.outer(x.to(self.freqs.dtype), (2 * np.pi) * self.freqs)
        return torch.cat([x.cos(), x.sin()], dim=1)


class Conv2d(nn.Module):
    """2-D convolution with optional 2× up- or down-sampling by a separable FIR filter.

    Parameters ``weight`` (out, in, k, k), ``bias`` (out,) and the buffer ``resample_filter``
    (1, 1, f, f), as in EDM's ``Conv2d``.

    Resampling happens before the convolution: down-sampling is a stride-2 depthwise
    convolution with the normalised filter ``f fᵀ`` (``(1, 1)``: 2×2 average pooling),
    up-sampling its transpose times 4 (``(1, 1)``: nearest neighbour). ``kernel == 0`` means
    resampling only (no weights).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel: int,
        up: bool = False,
        down: bool = False,
        resample_filter: tuple[int, ...] = (1, 1),
        gain: float = 1.0,
    ) -> None:
        super().__init__()
        if up and down:
            raise ValueError("a convolution cannot both up- and down-sample")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.up, self.down = up, down
        self.weight = self.bias = None
        if kernel:
            self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel, kernel))
            _xavier_(self.weight, in_channels * kernel**2, out_channels * kernel**2, gain)
            self.bias = nn.Parameter(torch.zeros(out_channels))
        f = torch.as_tensor(resample_filter, dtype=torch.float32)
        # Shape (1, 1, k, k), as EDM's Conv2d stores it, so that imported buffers load as they are.
        f = (torch.outer(f, f) / f.sum() ** 2)[None, None]
        self.register_buffer("resample_filter", f if (up or down) else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` of shape (batch, in_channels, H, W) -> (batch, out_channels, H', W')."""
        f = self.resample_filter
        if f is not None:
            f = f.to(x.dtype)
            pad = (f.shape[-1] - 1) // 2
            kernel = f.expand(x.shape[1], 1, *f.shape[-2:])
            if self.up:
                x = F.conv_transpose2d(x, kernel * 4, groups=x.shape[1], stride=2, padding=pad)
            else:
                x = F.conv2d(x, kernel, groups=x.shape[1], stride=2, padding=pad)
        if self.weight is not None:
            w = self.weight.to(x.dtype)
            x = F.conv2d(x, w, self.bias.to(x.dtype), padding=w.shape[-1] // 2)
        return x


class UNetBlock(nn.Module):
    """DDPM++ residual block with optional resampling and self-attention.

    ``h = conv0(SiLU(GN(x)))``; ``h = SiLU(GN(h + affine(emb)))``; ``h = conv1(dropout(h))``;
    ``x = (h + skip(x))·skip_scale``; with attention ``x = (x + proj(attn(GN(x))))·skip_scale``.
    The output convolutions (``conv1``, ``proj``) start near zero, so a block starts as the
    (scaled) identity on its skip path.

    Parameters
    ----------
    in_channels, out_channels, emb_channels : int
    up, down : bool
        2× up-/down-sampling inside ``conv0`` and the skip path.
    attention : bool
        Add a single-head self-attention layer after the residual part.
    dropout : float
    skip_scale : float, default 1/√2
    resample_filter : tuple of int, default (1, 1)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        emb_channels: int,
        up: bool = False,
        down: bool = False,
        attention: bool = False,
        dropout: float = 0.0,
        skip_scale: float = math.sqrt(0.5),
        resample_filter: tuple[int, ...] = (1, 1),
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.skip_scale = skip_scale
        self.norm0 = group_norm(in_channels)
        self.conv0 = Conv2d(in_channels, out_channels, 3, up, down, resample_filter)
        self.affine = linear(emb_channels, out_channels)
        self.norm1 = group_norm(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv1 = Conv2d(out_channels, out_channels, 3, gain=1e-5)
        self.skip = None
        if in_channels != out_channels or up or down:
            self.skip = Conv2d(in_channels, out_channels, 1, up, down, resample_filter)
        self.attention = attention
        if attention:
            self.norm2 = group_norm(out_channels)
            self.qkv = Conv2d(out_channels, out_channels * 3, 1, gain=math.sqrt(0.2))
            self.proj = Conv2d(out_channels, out_channels, 1, gain=1e-5)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """``x`` (batch, C_in, H, W), ``emb`` (batch, emb_channels) -> (batch, C_out, H', W')."""
        orig = x
        x = self.conv0(F.silu(self.norm0(x)))
        x = F.silu(self.norm1(x + self.affine(emb)[:, :, None, None].to(x.dtype)))
        x = self.conv1(self.dropout(x))
        x = (x + (self.skip(orig) if self.skip is not None else orig)) * self.skip_scale
        if self.attention:
            b, c, h, w = x.shape
            q, k, v = self.qkv(self.norm2(x)).reshape(b, c, 3, h * w).unbind(2)
            a = F.scaled_dot_product_attention(
                q.transpose(1, 2)[:, None], k.transpose(1, 2)[:, None], v.transpose(1, 2)[:, None]
            )
            x = (self.proj(a[:, 0].transpose(1, 2).reshape(b, c, h, w)) + x) * self.skip_scale
        return x
