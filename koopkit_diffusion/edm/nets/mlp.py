"""Time-conditioned MLP for low-dimensional (e.g. 2-D) data."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..labels import one_hot
from .layers import (
    FourierEmbedding,
    PositionalEmbedding,
    linear,
)

__all__ = ["MLPNet"]


class _ResidualBlock(nn.Module):
    def __init__(self, hidden: int, emb_channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(hidden)
        self.fc0 = linear(hidden, hidden)
        self.affine = linear(emb_channels, hidden)
        self.fc1 = linear(hidden, hidden, gain=1e-5)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        x = F.silu(self.fc0(F.silu(self.norm(h))) + self.affine(emb))
        return h + self.fc1(x)


class MLPNet(nn.Module):
    """Residual MLP ``F(x, c_noise, y)`` for vectors, the raw network of a 2-D EDM denoiser.

    ``h = W_in x``; ``depth`` blocks ``h ← h + W1·SiLU(W0·SiLU(LN(h)) + A·emb)``; output
    ``W_out·SiLU(LN(h))``. The embedding is ``emb = SiLU(M1·SiLU(M0·(embed(c_noise) + L·y)))``
    (as in the UNet, :class:`koopkit_diffusion.edm.nets.unet.UNet`). With ``noise_labels=None``
    the noise embedding is left out (unconditional in time, e.g. a KDM encoder).

    Parameters
    ----------
    dim : int, default 2
        Input and output size.
    hidden : int, default 256
        Width of the hidden layers.
    depth : int, default 4
        Number of residual blocks.
    label_dim : int, default 0
        Number of classes (0: unconditional).
    embedding_type : {"positional", "fourier"}, default "positional"
    emb_channels : int, default 128
        Size of the noise embedding.
    out_dim : int, optional
        Output size; default ``dim``.

    Examples
    --------
    >>> net = MLPNet(dim=2, hidden=64, depth=2)
    >>> net(torch.randn(5, 2), torch.zeros(5)).shape
    torch.Size([5, 2])
    """

    def __init__(
        self,
        dim: int = 2,
        hidden: int = 256,
        depth: int = 4,
        label_dim: int = 0,
        embedding_type: str = "positional",
        emb_channels: int = 128,
        out_dim: int | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 0 or label_dim < 0:
            raise ValueError(
                f"need dim >= 1, hidden >= 1, depth >= 0, label_dim >= 0, got dim={dim}, "
                f"hidden={hidden}, depth={depth}, label_dim={label_dim}"
            )
        if embedding_type not in ("positional", "fourier"):
            raise ValueError(
                f"embedding_type must be 'positional' or 'fourier', got {embedding_type!r}"
            )
        self.dim, self.label_dim, self.emb_channels = dim, label_dim, emb_channels
        self.out_dim = dim if out_dim is None else out_dim
        if embedding_type == "positional":
            self.map_noise = PositionalEmbedding(emb_channels)
        else:
            self.map_noise = FourierEmbedding(emb_channels)
        self.map_label = linear(label_dim, emb_channels) if label_dim else None
        self.map_layer0 = linear(emb_channels, hidden)
        self.map_layer1 = linear(hidden, hidden)
        self.fc_in = linear(dim, hidden)
        self.blocks = nn.ModuleList(_ResidualBlock(hidden, hidden) for _ in range(depth))
        self.out_norm = nn.LayerNorm(hidden)
        self.fc_out = linear(hidden, self.out_dim)

    def forward(
        self,
        x: torch.Tensor,
        noise_labels: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Apply the network.

        Parameters
        ----------
        x : torch.Tensor of shape (batch, dim)
        noise_labels : torch.Tensor of shape (batch,), optional
        class_labels : torch.Tensor of shape (batch,) (int) or (batch, label_dim), optional

        Returns
        -------
        torch.Tensor of shape (batch, out_dim)
        """
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"x must have shape (batch, {self.dim}), got {tuple(x.shape)}")
        batch = x.shape[0]
        emb = x.new_zeros(batch, self.emb_channels)
        if noise_labels is not None:
            emb = emb + self.map_noise(noise_labels.reshape(batch)).to(x.dtype)
        labels = one_hot(class_labels, self.label_dim, batch, x, missing="none")
        if labels is not None:
            emb = emb + self.map_label(labels * math.sqrt(self.label_dim))
        emb = F.silu(self.map_layer1(F.silu(self.map_layer0(emb))))
        h = self.fc_in(x)
        for block in self.blocks:
            h = block(h, emb)
        return self.fc_out(F.silu(self.out_norm(h)))
