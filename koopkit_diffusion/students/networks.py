"""Encoder and decoder networks of the Koopman Distillation Model and the KD baseline.

Flat data (the 2-D toys) uses plain MLPs; images use the project's UNet
(:class:`koopkit_diffusion.edm.nets.unet.UNet`, called without a noise level) with
``latent_channels`` output channels at full resolution, optionally followed by a linear projection
to ``latent_dim`` (Berman et al. 2025, §4 and appendix on architectures).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from koopkit.operators import make_operator
from koopkit_diffusion.edm import input_scale as c_in
from koopkit_diffusion.edm import one_hot
from koopkit_diffusion.edm.nets import UNet

from .config import KDMConfig

__all__ = [
    "ACTIVATIONS",
    "MLP",
    "UNetDecoder",
    "UNetEncoder",
    "build_decoder",
    "build_encoder",
    "build_operator",
    "noise_input_scale",
]

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def _activation(name: str) -> nn.Module:
    # In place after a Linear: ReLU's backward needs only its output, saving one allocation.
    return nn.ReLU(inplace=True) if name == "relu" else ACTIVATIONS[name]()


class MLP(nn.Module):
    """``in_dim → [width]·depth → out_dim`` with an activation between layers.

    A class label enters as a learned embedding added after the first layer.

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
        Inputs are multiplied by this first (the noise encoder's ``noise_scaling``).
    time : float, optional
        A constant appended to the input as one more feature (the KDM authors' placeholder time).
    out_activation : bool, default False
        End with the activation too (the authors' 2-D encoders).
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
        time: float | None = None,
        out_activation: bool = False,
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
        self.time = time
        self.label_embed = nn.Linear(label_dim, width, bias=False) if label_dim else None
        first = nn.Linear(in_dim + (time is not None), width)
        layers: list[nn.Module] = [first, _activation(activation)]
        for _ in range(depth - 1):
            layers += [nn.Linear(width, width), _activation(activation)]
        layers.append(nn.Linear(width, out_dim))
        if out_activation:
            layers.append(_activation(activation))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Map ``(batch, in_dim)`` (and optional labels ``(batch,)``) to ``(batch, out_dim)``."""
        h = x.flatten(1) * self.input_scale if self.input_scale != 1.0 else x.flatten(1)
        if self.time is not None:
            h = torch.cat([h, h.new_full((h.shape[0], 1), self.time)], dim=1)
        y = one_hot(labels, self.label_dim, h.shape[0], h)
        if y is None:
            return self.net(h)
        h = self.net[0](h) + self.label_embed(y)
        return self.net[1:](h)


def _unet(in_channels: int, out_channels: int, resolution: int, label_dim: int, unet: dict):
    return UNet(
        img_resolution=resolution,
        in_channels=in_channels,
        out_channels=out_channels,
        label_dim=label_dim,
        **unet,
    )


def _projection(in_features: int, out_features: int) -> nn.Linear:
    layer = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _time_labels(time: float | None, ref: torch.Tensor) -> torch.Tensor | None:
    return None if time is None else ref.new_full((ref.shape[0],), time)


class UNetEncoder(nn.Module):
    """Image ``(C, H, W)`` → UNet with ``latent_channels`` outputs → flat latent (+ projection).

    Parameters
    ----------
    shape : tuple (C, H, W)
    latent_channels : int
    latent_dim : int or None
        Linear projection of the ``latent_channels·H·W`` features to this size; ``None`` keeps them.
    label_dim : int
    unet : dict
        Keyword arguments of :class:`koopkit_diffusion.edm.nets.unet.UNet` (``model_channels``,
        ``channel_mult``, ``num_blocks``, ``attn_resolutions``, ``dropout``).
    input_scale : float, default 1.0
    time : float, optional
        A constant noise label for the UNet (the KDM authors' placeholder time); ``None``
        leaves the noise embedding out.

    Notes
    -----
    The projection has Xavier-uniform weights and a zero bias, as the authors'.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_channels: int,
        latent_dim: int | None,
        label_dim: int,
        unet: dict,
        input_scale: float = 1.0,
        time: float | None = None,
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.label_dim = label_dim
        self.input_scale = float(input_scale)
        self.time = time
        self.net = _unet(c, latent_channels, h, label_dim, unet)
        flat = latent_channels * h * w
        self.proj = _projection(flat, latent_dim) if latent_dim is not None else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, C, H, W)`` → ``(batch, latent_dim)``."""
        y = one_hot(labels, self.label_dim, x.shape[0], x)
        t = _time_labels(self.time, x)
        h = self.net(x * self.input_scale, noise_labels=t, class_labels=y).flatten(1)
        return self.proj(h) if self.proj is not None else h


class UNetDecoder(nn.Module):
    """Flat latent → (inverse projection) → ``(latent_channels, H, W)`` → UNet → image.

    Parameters as in :class:`UNetEncoder`.
    """

    def __init__(
        self,
        shape: tuple[int, int, int],
        latent_channels: int,
        latent_dim: int | None,
        label_dim: int,
        unet: dict,
        time: float | None = None,
    ) -> None:
        super().__init__()
        c, h, w = shape
        self.label_dim = label_dim
        self.time = time
        self.latent_shape = (latent_channels, h, w)
        flat = math.prod(self.latent_shape)
        self.proj = _projection(latent_dim, flat) if latent_dim is not None else None
        self.net = _unet(latent_channels, c, h, label_dim, unet)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``(batch, latent_dim)`` → ``(batch, C, H, W)``."""
        y = one_hot(labels, self.label_dim, z.shape[0], z)
        h = self.proj(z) if self.proj is not None else z
        t = _time_labels(self.time, z)
        return self.net(h.view(z.shape[0], *self.latent_shape), noise_labels=t, class_labels=y)


def noise_input_scale(config: KDMConfig) -> float:
    """The factor the noise encoder multiplies ``x_T = σmax·ε`` by (``config.noise_scaling``)."""
    if config.noise_scaling == "c_in":
        return c_in(config.sigma_max, config.sigma_data)
    return 1.0 / config.sigma_max if config.noise_scaling == "unit" else 1.0


def build_encoder(config: KDMConfig, noise: bool = False) -> nn.Module:
    """An encoder ``shape → (latent_dim,)``: MLP or UNet as ``config.network`` says.

    With ``noise=True`` it is a noise encoder: its input ``x_T = σmax·ε`` is first multiplied by
    :func:`noise_input_scale`, and its placeholder time (``config.time_input``) is 1, not 0.
    """
    scale = noise_input_scale(config) if noise else 1.0
    time = (1.0 if noise else 0.0) if config.time_input else None
    if config.network == "mlp":
        return MLP(
            math.prod(config.shape),
            config.latent_dim,
            width=config.mlp_width,
            depth=config.mlp_depth,
            activation=config.activation,
            label_dim=config.label_dim,
            input_scale=scale,
            time=time,
            out_activation=config.latent_activation,
        )
    return UNetEncoder(
        config.shape,
        config.latent_channels,
        config.latent_dim,
        config.label_dim,
        config.unet,
        input_scale=scale,
        time=time,
    )


def build_decoder(config: KDMConfig) -> nn.Module:
    """A decoder ``(latent_dim,) → shape``: MLP or UNet as ``config.network`` says."""
    time = 0.0 if config.time_input else None
    if config.network == "mlp":
        return MLP(
            config.latent_dim,
            math.prod(config.shape),
            width=config.mlp_width,
            depth=config.mlp_depth,
            activation=config.activation,
            label_dim=config.label_dim,
            time=time,
        )
    return UNetDecoder(
        config.shape,
        config.latent_channels,
        config.latent_dim,
        config.label_dim,
        config.unet,
        time=time,
    )


def build_operator(config: KDMConfig) -> nn.Module:
    """The Koopman operator ``K`` (:mod:`koopkit.operators`) of ``config.operator`` kind.

    ``eigenvalue_targets="uniform"`` draws the targets (real and imaginary part ``U(−1, 1)``)
    from the global generator, after the operator's own parameters.
    """
    dim = config.latent_dim_resolved
    kwargs: dict = {"bias": config.operator_bias}
    if config.operator == "lowrank":
        kwargs["rank"] = config.operator_rank
    elif config.operator == "dense":
        kwargs["init"] = config.operator_init
    op = make_operator(config.operator, dim, **kwargs)
    if config.eigenvalue_targets == "uniform":
        n = dim if config.operator == "complex-eigendecomposed" else (dim + 1) // 2
        with torch.no_grad():
            op.eigenvalue_targets = torch.rand(n, 2) * 2 - 1
    return op
