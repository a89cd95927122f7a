"""The typed configuration of the Koopman Distillation Model and of the KD baseline."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from koopkit.config import ConfigMixin
from koopkit.operators import OPERATOR_KINDS

from .losses import LOSS_KINDS

__all__ = ["KDMConfig"]

# Fields with a fixed set of values (the operator and loss kinds are checked with their lists).
_CHOICES = {
    "noise_scaling": ("c_in", "unit", "none"),
    "conditioning": ("control", "labels"),
    "operator_init": ("identity", "orthogonal", "random", "linear"),
    "eigenvalue_targets": ("none", "uniform"),
    "lpips_pooling": ("avg", "max"),
    "discriminator": ("patch", "dcgan"),
}


@dataclass
class KDMConfig(ConfigMixin):
    """Configuration of a :class:`KDM` (and of the KD baseline, which reuses its networks).

    Parameters
    ----------
    shape : tuple of int
        Shape of one sample: ``(d,)`` for flat data, ``(C, H, W)`` for images.
    sigma_max : float
        Scale of the teacher's starting noise; the model sees ``x_T = sigma_max·ε``.
    sigma_data : float
        The teacher's data scale, used by ``noise_scaling="c_in"``.
    noise_scaling : {"c_in", "unit", "none"}
        What the noise encoder's input ``x_T = σmax·ε`` is multiplied by first: EDM's
        ``c_in(σmax) = 1/√(σmax² + σ_data²)`` (unit variance;
        :func:`koopkit_diffusion.edm.precond.input_scale`), ``1/σmax`` (the encoder sees ``ε``,
        as the authors' 2-D model, whose flow-matching teacher starts from unit noise) or nothing
        (the encoder sees ``σmax·ε``, as the authors' image models).
    label_dim : int
        Number of classes (0: unconditional).
    conditioning : {"control", "labels"}
        How labels enter a conditional KDM: ``"control"`` — through every network's label
        embedding *and* a control term ``B·y + c`` added to ``K z`` (the authors'
        ``KoopmanMatrixAddition``, ``cifar_cond``); ``"labels"`` — through the networks only
        (their ``OnlyEncDec``).
    network : {"mlp", "unet"}
    latent_dim : int or None
        MLP: latent size (required). UNet: linear projection of the
        ``latent_channels·H·W`` features to this size, ``None`` for no projection.
    mlp_width, mlp_depth, activation
        MLP width (256 in the paper), number of hidden layers, activation.
    latent_activation : bool
        MLP encoders end with the activation (the authors' 2-D encoders: five linear layers,
        each followed by SiLU).
    time_input : bool
        Give every network a constant "time" as the authors' code does (a placeholder in one
        step): 1 for the noise encoder, 0 for the data encoder and the decoder; MLPs take it as
        one more input, UNets as their noise label. It changes the initial function (a constant
        input through the first layer / the embedding), not the function class.
    latent_channels, model_channels, channel_mult, num_blocks, attn_resolutions, dropout
        UNet settings (the authors' CIFAR-10: 1, 64, (1, 2, 2, 2), 4, (16,), 0.1).
    operator : {"dense", "lowrank", "diagonal", "eigendecomposed", "complex-eigendecomposed"}
        Koopman operator kind from :mod:`koopkit.operators`; ``"dense"`` with bias is the paper's,
        ``"complex-eigendecomposed"`` the authors' decomposed one (``cifar_uncond_decomposed``).
    operator_bias : bool
        Learnable affine term ``b`` of the operator (``K z + b``; on in the paper).
    operator_init : {"identity", "orthogonal", "random", "linear"}
        Initial dense operator (and the KD baseline's affine map): ``"linear"`` is
        ``torch.nn.Linear``'s, the authors'.
    operator_rank : int or None
        Rank of the low-rank operator.
    eigenvalue_targets : {"none", "uniform"}
        Targets of the eigendecomposed operators' spectra, added as ``mean|λ − t|`` to the
        operator penalty: ``"uniform"`` draws each target's real and imaginary part from
        ``U(−1, 1)`` once, at construction (the authors' ``Uniform``).
    sigma_z : float
        Latent noise ``σz`` (0.4 in the paper).
    loss : {"mse", "pseudo_huber", "lpips", "mse+lpips"}
        Reconstruction loss ``ℓ`` (``"mse+lpips"`` is the sum, the authors' ``BOTH``).
    huber_c : float or None
        ``c`` of the pseudo-Huber loss (default ``0.00054·√d``).
    lpips_weights : str or None
        Folder of the LPIPS weight files (see :class:`koopkit_diffusion.students.lpips.LPIPS`).
    lpips_resize : int or None
        Resolution LPIPS compares at; ``None`` (default) is the input's own, as the authors (piq).
    lpips_pooling : {"avg", "max"}
        Pooling of the VGG trunk: average (piq's ``replace_pooling=True``, the authors') or max
        (the original LPIPS).
    w_latent, w_rec, w_push, w_operator : float
        Loss weights (1 by default). With ``w_push = 0`` the push term is still computed, without
        gradient, for the logs.
    w_adv : float
        Adversarial weight ``w``; the term enters as ``0.01·w·L_adv``. ``0`` turns the adversary
        (and its discriminator) off.
    discriminator : {"patch", "dcgan"}
        ``"patch"``: a GroupNorm PatchGAN (the project's); ``"dcgan"``: the authors' (BatchNorm,
        one logit per 32×32 image).
    discriminator_channels : int
        Width of the discriminator's first layer.
    """

    shape: tuple[int, ...] = (2,)
    sigma_max: float = 80.0
    sigma_data: float = 0.5
    noise_scaling: str = "c_in"
    label_dim: int = 0
    conditioning: str = "control"
    network: str = "mlp"
    latent_dim: int | None = 256
    mlp_width: int = 256
    mlp_depth: int = 3
    activation: str = "silu"
    latent_activation: bool = False
    time_input: bool = False
    latent_channels: int = 1
    model_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_blocks: int = 4
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.0
    operator: str = "dense"
    operator_bias: bool = True
    operator_init: str = "identity"
    operator_rank: int | None = None
    eigenvalue_targets: str = "none"
    sigma_z: float = 0.4
    loss: str = "mse"
    huber_c: float | None = None
    lpips_weights: str | None = None
    lpips_resize: int | None = None
    lpips_pooling: str = "avg"
    w_latent: float = 1.0
    w_rec: float = 1.0
    w_push: float = 1.0
    w_operator: float = 1.0
    w_adv: float = 0.0
    discriminator: str = "patch"
    discriminator_channels: int = 64
    unet_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.shape = tuple(int(s) for s in self.shape)
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field outside its valid range."""
        if len(self.shape) not in (1, 3) or min(self.shape) < 1:
            raise ValueError(f"shape must be (d,) or (C, H, W), got {self.shape}")
        if self.network not in ("mlp", "unet"):
            raise ValueError(f"network must be 'mlp' or 'unet', got {self.network!r}")
        if self.network == "unet" and len(self.shape) != 3:
            raise ValueError(f"network='unet' needs shape (C, H, W), got {self.shape}")
        if self.network == "mlp" and (self.latent_dim is None or self.latent_dim < 1):
            raise ValueError(f"network='mlp' needs a positive latent_dim, got {self.latent_dim}")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive or None, got {self.latent_dim}")
        for name, valid in _CHOICES.items():
            if getattr(self, name) not in valid:
                raise ValueError(f"{name} must be one of {valid}, got {getattr(self, name)!r}")
        if self.eigenvalue_targets != "none" and not self.operator.endswith("eigendecomposed"):
            raise ValueError(
                "eigenvalue_targets act on an eigendecomposed operator's spectrum; got "
                f"operator={self.operator!r}"
            )
        if self.w_adv > 0 and self.discriminator == "dcgan" and min(self.shape[-2:]) < 32:
            raise ValueError(
                f"discriminator='dcgan' needs images of at least 32×32, got shape {self.shape}"
            )
        if self.lpips_resize is not None and self.lpips_resize < 16:
            raise ValueError(f"lpips_resize must be at least 16 or None, got {self.lpips_resize}")
        if self.operator not in OPERATOR_KINDS:
            raise ValueError(
                f"operator must be one of {sorted(OPERATOR_KINDS)}, got {self.operator!r}"
            )
        if self.operator == "lowrank" and (self.operator_rank is None or self.operator_rank < 1):
            raise ValueError("operator='lowrank' needs a positive operator_rank")
        if self.operator in ("diagonal", "eigendecomposed") and self.latent_dim_resolved % 2:
            raise ValueError(
                f"operator={self.operator!r} pairs eigenvalues: latent dimension must be even, "
                f"got {self.latent_dim_resolved}"
            )
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")
        if not (math.isfinite(self.sigma_max) and self.sigma_max > 0):
            raise ValueError(f"sigma_max must be a positive finite number, got {self.sigma_max}")
        if not (math.isfinite(self.sigma_data) and self.sigma_data > 0):
            raise ValueError(f"sigma_data must be a positive finite number, got {self.sigma_data}")
        if not (math.isfinite(self.sigma_z) and self.sigma_z >= 0):
            raise ValueError(f"sigma_z must be a non-negative finite number, got {self.sigma_z}")
        for name in ("w_latent", "w_rec", "w_push", "w_operator", "w_adv"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a non-negative finite number, got {value}")
        if self.label_dim < 0:
            raise ValueError(f"label_dim must be non-negative, got {self.label_dim}")
        if not 0.0 <= self.dropout < 1.0:  # NaN fails both comparisons
            raise ValueError(f"dropout must lie in [0, 1), got {self.dropout}")
        if self.huber_c is not None and not (math.isfinite(self.huber_c) and self.huber_c > 0):
            raise ValueError(f"huber_c must be positive and finite, or None; got {self.huber_c}")

    @property
    def latent_dim_resolved(self) -> int:
        """Size of the flat latent the operator acts on."""
        if self.latent_dim is not None:
            return self.latent_dim
        return self.latent_channels * self.shape[1] * self.shape[2]

    @property
    def unet(self) -> dict[str, Any]:
        """Keyword arguments for :class:`koopkit_diffusion.edm.nets.unet.UNet`."""
        return dict(
            model_channels=self.model_channels,
            channel_mult=list(self.channel_mult),
            num_blocks=self.num_blocks,
            attn_resolutions=list(self.attn_resolutions),
            dropout=self.dropout,
            **self.unet_kwargs,
        )
