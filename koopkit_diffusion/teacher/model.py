"""The EDM teacher: a preconditioned denoiser that knows its data and trains on the EDM loss.

:class:`Teacher` is an :class:`~koopkit_diffusion.edm.precond.EDMPrecond` around a network from
:mod:`koopkit_diffusion.edm.nets`, with the description every consumer needs (``shape``,
``label_dim``, ``sigma_data``, ``sigma_min``, ``sigma_max``) and ``losses(batch)``, so that it
trains through :class:`koopkit_diffusion.trainer.loop.Trainer` like the students.
:class:`TeacherConfig` is its typed configuration; :func:`build_teacher` builds one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from koopkit.config import ConfigMixin
from koopkit_diffusion.edm import EDMPrecond, edm_loss
from koopkit_diffusion.edm.nets import MLPNet, UNet

from .protocol import EDMSampling

__all__ = ["NETWORKS", "Teacher", "TeacherConfig", "build_teacher"]

NETWORKS = ("mlp", "unet")
_EMBEDDINGS = ("positional", "fourier")


@dataclass
class TeacherConfig(ConfigMixin):
    """The teacher's network and EDM parameters (its data and training live in the preset).

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample: ``(d,)`` for vectors (MLP), ``(C, H, W)`` for images (UNet).
    label_dim : int
        Number of classes (0: unconditional).
    network : {"mlp", "unet"}
        :class:`~koopkit_diffusion.edm.nets.mlp.MLPNet` or
        :class:`~koopkit_diffusion.edm.nets.unet.UNet`.
    hidden, depth : int
        MLP width and number of residual blocks.
    model_channels, channel_mult, num_blocks, attn_resolutions, dropout
        UNet architecture (see :class:`~koopkit_diffusion.edm.nets.unet.UNet`).
    augment_dim : int
        UNet: size of EDM's augmentation labels (9 to train with ``data.augment``; 0: none).
    embedding_type : {"positional", "fourier"}
        Noise-level embedding of either network.
    sigma_data, P_mean, P_std : float
        EDM's data scale and training noise distribution ``ln σ ~ N(P_mean, P_std²)`` (Karras et
        al. 2022, Table 1: 0.5, −1.2, 1.2).
    sigma_min, sigma_max : float
        Noise range of the sampler (0.002, 80).
    """

    shape: tuple[int, ...] = (2,)
    label_dim: int = 0
    network: str = "mlp"
    hidden: int = 256
    depth: int = 4
    model_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    num_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (4,)
    dropout: float = 0.0
    augment_dim: int = 0
    embedding_type: str = "positional"
    sigma_data: float = 0.5
    P_mean: float = -1.2  # noqa: N815 (the paper's name)
    P_std: float = 1.2  # noqa: N815
    sigma_min: float = 0.002
    sigma_max: float = 80.0

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field outside its valid range."""
        if len(self.shape) not in (1, 3) or min(self.shape) < 1:
            raise ValueError(f"shape must be (d,) or (C, H, W), got {self.shape}")
        if self.network not in NETWORKS:
            raise ValueError(f"network must be one of {NETWORKS}, got {self.network!r}")
        if (self.network == "mlp") != (len(self.shape) == 1):
            raise ValueError(
                f"network='mlp' takes vectors (d,) and network='unet' images (C, H, W); got "
                f"network={self.network!r} with shape {self.shape}"
            )
        if self.network == "unet" and self.shape[1] != self.shape[2]:
            raise ValueError(f"the UNet needs square images, got shape {self.shape}")
        if self.embedding_type not in _EMBEDDINGS:
            raise ValueError(
                f"embedding_type must be one of {_EMBEDDINGS}, got {self.embedding_type!r}"
            )
        for name in ("hidden", "model_channels", "num_blocks"):
            _positive_int(name, getattr(self, name))
        if isinstance(self.depth, bool) or not isinstance(self.depth, int) or self.depth < 0:
            raise ValueError(f"depth must be a non-negative integer, got {self.depth!r}")
        if isinstance(self.label_dim, bool) or not isinstance(self.label_dim, int):
            raise ValueError(f"label_dim must be an integer, got {self.label_dim!r}")
        if self.label_dim < 0:
            raise ValueError(f"label_dim must be >= 0, got {self.label_dim}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if isinstance(self.augment_dim, bool) or not isinstance(self.augment_dim, int):
            raise ValueError(f"augment_dim must be an integer, got {self.augment_dim!r}")
        if self.augment_dim < 0 or (self.augment_dim and self.network != "unet"):
            raise ValueError(
                f"augment_dim must be >= 0, and 0 for network={self.network!r}; got "
                f"{self.augment_dim}"
            )
        for name in ("sigma_data", "P_std", "sigma_min", "sigma_max"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive finite number, got {value!r}")
        if not math.isfinite(self.P_mean):
            raise ValueError(f"P_mean must be finite, got {self.P_mean!r}")
        if not self.sigma_min < self.sigma_max:
            raise ValueError(
                f"need sigma_min < sigma_max, got {self.sigma_min} and {self.sigma_max}"
            )


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class Teacher(EDMSampling, EDMPrecond):
    """An EDM denoiser that knows its data shape, classes and noise range, and its training loss.

    Parameters
    ----------
    net : torch.nn.Module
        Raw network ``F`` (called as ``net(c_in·x, c_noise, class_labels)``).
    shape : tuple of int
        Shape of one sample.
    sigma_data : float, default 0.5
    label_dim : int, default 0
    sigma_min, sigma_max : float, default 0.002, 80.0
        Noise range of the sampler.
    P_mean, P_std : float, default -1.2, 1.2
        Training noise distribution of :meth:`losses`.

    Notes
    -----
    Called as ``teacher(x, sigma, labels)`` it is the denoiser ``D(x, σ)``
    (:class:`~koopkit_diffusion.edm.precond.EDMPrecond`); :meth:`integrate` is its sampler
    (:class:`~koopkit_diffusion.teacher.protocol.EDMSampling`).
    """

    def __init__(
        self,
        net: nn.Module,
        shape: tuple[int, ...],
        sigma_data: float = 0.5,
        label_dim: int = 0,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        P_mean: float = -1.2,  # noqa: N803 (the paper's name)
        P_std: float = 1.2,  # noqa: N803
    ) -> None:
        super().__init__(net, sigma_data=sigma_data, label_dim=label_dim)
        self.shape = tuple(int(s) for s in shape)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.P_mean, self.P_std = float(P_mean), float(P_std)

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """EDM's loss on a batch of clean samples (Karras et al. 2022, Eq. 2), for the trainer.

        Parameters
        ----------
        batch : dict
            ``"sample"`` of shape ``(B, *shape)``; ``"label"`` of shape ``(B,)`` for a
            conditional teacher; ``"augment_labels"`` of shape ``(B, 9)`` when the data is
            augmented (:class:`~koopkit_diffusion.data.config.ImageDataset`).

        Returns
        -------
        dict
            ``{"total": scalar}``: the batch mean of :func:`~koopkit_diffusion.edm.loss.edm_loss`.
        """
        if "sample" not in batch:
            raise ValueError(f"a teacher batch needs 'sample'; got keys {sorted(batch)}")
        x = batch["sample"]
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(
                f"batch 'sample' must have shape (batch, *{self.shape}), got {tuple(x.shape)}"
            )
        labels = batch.get("label") if self.label_dim else None
        augment_labels = batch.get("augment_labels")
        denoiser = self
        if augment_labels is not None:
            if not getattr(self.net, "augment_dim", 0):
                raise ValueError(
                    "the batch carries 'augment_labels' (data.augment > 0) but the teacher's "
                    "network has augment_dim=0; set model.augment_dim=9"
                )

            def denoiser(x_noisy, sigma, y):  # EDM's loss: the labels of the augmented batch
                return self(x_noisy, sigma, y, augment_labels=augment_labels)

        loss = edm_loss(denoiser, x, labels, self.P_mean, self.P_std, self.sigma_data)
        return {"total": loss.mean()}


def build_teacher(config: TeacherConfig) -> Teacher:
    """A freshly initialised :class:`Teacher` for ``config`` (weights from the global generator).

    Parameters
    ----------
    config : TeacherConfig

    Returns
    -------
    Teacher
    """
    if config.network == "mlp":
        net = MLPNet(
            dim=config.shape[0],
            hidden=config.hidden,
            depth=config.depth,
            label_dim=config.label_dim,
            embedding_type=config.embedding_type,
        )
    else:
        channels, resolution, _ = config.shape
        net = UNet(
            resolution,
            channels,
            channels,
            model_channels=config.model_channels,
            channel_mult=config.channel_mult,
            num_blocks=config.num_blocks,
            attn_resolutions=config.attn_resolutions,
            dropout=config.dropout,
            label_dim=config.label_dim,
            augment_dim=config.augment_dim,
            embedding_type=config.embedding_type,
        )
    return Teacher(
        net,
        config.shape,
        sigma_data=config.sigma_data,
        label_dim=config.label_dim,
        sigma_min=config.sigma_min,
        sigma_max=config.sigma_max,
        P_mean=config.P_mean,
        P_std=config.P_std,
    )
