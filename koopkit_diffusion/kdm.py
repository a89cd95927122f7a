"""The Koopman Distillation Model (KDM; Berman, Naiman, Eliasof, Zisling, Azencot 2025).

A multi-step diffusion teacher is distilled into a one-step generator by learning a *linear*
(Koopman) map between two latent spaces: the noise encoder ``E_T`` embeds the scaled noise
``x_T = σmax·ε``, the operator ``K`` advances it, and the decoder ``D`` returns a clean sample.

Training step (DESIGN §3; paper §3, eqs. 5–8), latent noise ``σz`` (0.4 in the paper)::

    z0 = E_0(x0),  zT = E_T(x_T),  ẑ0 = K(zT + σz·n1) (+ B·y)
    L_latent = ‖z0 − ẑ0‖²                  gradient reaches both encoders
    L_rec    = ℓ(x0, D(z0 + σz·n2))
    L_push   = ℓ(x0, D(ẑ0))
    L_adv    = non-saturating GAN loss on D(ẑ0), weight 0.01·w   (optional)
    L_op     = operator penalty (P⁻¹P ≈ I for the eigendecomposed operator)

One-step sampling: ``x0 = D(K(E_T(σmax·ε)))``; ``E_0`` is used in training only.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from koopkit_diffusion.kdm_networks import MLP, UNetDecoder, UNetEncoder, one_hot
from koopkit_diffusion.losses import (
    LOSS_KINDS,
    ReconstructionLoss,
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    make_discriminator,
)

__all__ = ["KDMConfig", "KDM", "OPERATOR_KINDS", "build_encoder", "build_decoder"]

OPERATOR_KINDS = ("dense", "lowrank", "diagonal", "eigendecomposed")
SIGMA_DATA = 0.5


@dataclass
class KDMConfig:
    """Configuration of a :class:`KDM` (and of the KD baseline, which reuses its networks).

    Parameters
    ----------
    data_shape : tuple of int
        Shape of one sample: ``(d,)`` for flat data, ``(C, H, W)`` for images.
    sigma_max : float
        Scale of the teacher's starting noise; the model sees ``x_T = sigma_max·ε``.
    label_dim : int
        Number of classes (0: unconditional).
    network : {"mlp", "unet"}
    latent_dim : int or None
        MLP: latent size (required). UNet: linear projection of the
        ``latent_channels·H·W`` features to this size, ``None`` for no projection.
    mlp_width, mlp_depth, activation
        MLP width (256 in the paper), number of hidden layers, activation.
    latent_channels, model_channels, channel_mult, num_blocks, attn_resolutions, dropout
        UNet settings (paper, CIFAR-10: 1, 64, (1, 2, 2, 2), 4, (16,), 0.0).
    operator : {"dense", "lowrank", "diagonal", "eigendecomposed"}
        Koopman operator kind from :mod:`koopkit.operators`; ``"dense"`` with bias is the paper's.
    operator_bias : bool
        Learnable affine term ``b`` of the operator (``K z + b``; on in the paper).
    operator_rank : int or None
        Rank of the low-rank operator.
    sigma_z : float
        Latent noise ``σz`` (0.4 in the paper).
    loss : {"mse", "pseudo_huber", "lpips"}
        Reconstruction loss ``ℓ``.
    huber_c : float or None
        ``c`` of the pseudo-Huber loss (default ``0.00054·√d``).
    lpips_weights : str or None
        Folder of the LPIPS weight files (see :class:`koopkit_diffusion.losses.LPIPS`).
    lpips_resize : int or None
        Resolution LPIPS compares at.
    w_latent, w_rec, w_push, w_operator : float
        Loss weights (1 by default).
    w_adv : float
        Adversarial weight ``w``; the term enters as ``0.01·w·L_adv``. ``0`` turns the adversary
        (and its discriminator) off.
    discriminator_channels : int
        Width of the discriminator.
    """

    data_shape: tuple[int, ...] = (2,)
    sigma_max: float = 80.0
    label_dim: int = 0
    network: str = "mlp"
    latent_dim: int | None = 256
    mlp_width: int = 256
    mlp_depth: int = 3
    activation: str = "silu"
    latent_channels: int = 1
    model_channels: int = 64
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    num_blocks: int = 4
    attn_resolutions: tuple[int, ...] = (16,)
    dropout: float = 0.0
    operator: str = "dense"
    operator_bias: bool = True
    operator_rank: int | None = None
    sigma_z: float = 0.4
    loss: str = "mse"
    huber_c: float | None = None
    lpips_weights: str | None = None
    lpips_resize: int | None = 224
    w_latent: float = 1.0
    w_rec: float = 1.0
    w_push: float = 1.0
    w_operator: float = 1.0
    w_adv: float = 0.0
    discriminator_channels: int = 64
    unet_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_shape = tuple(int(s) for s in self.data_shape)
        self.channel_mult = tuple(int(m) for m in self.channel_mult)
        self.attn_resolutions = tuple(int(r) for r in self.attn_resolutions)
        self.validate()

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field outside its valid range."""
        if len(self.data_shape) not in (1, 3) or min(self.data_shape) < 1:
            raise ValueError(f"data_shape must be (d,) or (C, H, W), got {self.data_shape}")
        if self.network not in ("mlp", "unet"):
            raise ValueError(f"network must be 'mlp' or 'unet', got {self.network!r}")
        if self.network == "unet" and len(self.data_shape) != 3:
            raise ValueError(f"network='unet' needs data_shape (C, H, W), got {self.data_shape}")
        if self.network == "mlp" and (self.latent_dim is None or self.latent_dim < 1):
            raise ValueError(f"network='mlp' needs a positive latent_dim, got {self.latent_dim}")
        if self.latent_dim is not None and self.latent_dim < 1:
            raise ValueError(f"latent_dim must be positive or None, got {self.latent_dim}")
        if self.operator not in OPERATOR_KINDS:
            raise ValueError(f"operator must be one of {OPERATOR_KINDS}, got {self.operator!r}")
        if self.operator == "lowrank" and (self.operator_rank is None or self.operator_rank < 1):
            raise ValueError("operator='lowrank' needs a positive operator_rank")
        if self.operator in ("diagonal", "eigendecomposed") and self.latent_dim_resolved % 2:
            raise ValueError(
                f"operator={self.operator!r} pairs eigenvalues: latent dimension must be even, "
                f"got {self.latent_dim_resolved}"
            )
        if self.loss not in LOSS_KINDS:
            raise ValueError(f"loss must be one of {LOSS_KINDS}, got {self.loss!r}")
        if self.sigma_max <= 0 or self.sigma_z < 0:
            raise ValueError("sigma_max must be positive and sigma_z non-negative")
        for name in ("w_latent", "w_rec", "w_push", "w_operator", "w_adv"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.label_dim < 0:
            raise ValueError(f"label_dim must be non-negative, got {self.label_dim}")

    @property
    def latent_dim_resolved(self) -> int:
        """Size of the flat latent the operator acts on."""
        if self.latent_dim is not None:
            return self.latent_dim
        return self.latent_channels * self.data_shape[1] * self.data_shape[2]

    @property
    def unet(self) -> dict[str, Any]:
        """Keyword arguments for :class:`koopkit_diffusion.nets.UNet`."""
        return dict(
            model_channels=self.model_channels,
            channel_mult=list(self.channel_mult),
            num_blocks=self.num_blocks,
            attn_resolutions=list(self.attn_resolutions),
            dropout=self.dropout,
            **self.unet_kwargs,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KDMConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown KDMConfig fields {unknown}; valid: {sorted(known)}")
        return cls(**d)


def _noise_scale(config: KDMConfig) -> float:
    # EDM's c_in at σmax (Karras et al. 2022, Table 1): unit-variance input to the noise encoder.
    return 1.0 / math.sqrt(config.sigma_max**2 + SIGMA_DATA**2)


def build_encoder(config: KDMConfig, input_scale: float = 1.0) -> nn.Module:
    """An encoder ``data_shape → (latent_dim,)``: MLP or UNet as ``config.network`` says."""
    if config.network == "mlp":
        return MLP(
            math.prod(config.data_shape),
            config.latent_dim,
            width=config.mlp_width,
            depth=config.mlp_depth,
            activation=config.activation,
            label_dim=config.label_dim,
            input_scale=input_scale,
        )
    return UNetEncoder(
        config.data_shape,
        config.latent_channels,
        config.latent_dim,
        config.label_dim,
        config.unet,
        input_scale=input_scale,
    )


def build_decoder(config: KDMConfig) -> nn.Module:
    """A decoder ``(latent_dim,) → data_shape``: MLP or UNet as ``config.network`` says."""
    if config.network == "mlp":
        return MLP(
            config.latent_dim,
            math.prod(config.data_shape),
            width=config.mlp_width,
            depth=config.mlp_depth,
            activation=config.activation,
            label_dim=config.label_dim,
        )
    return UNetDecoder(
        config.data_shape, config.latent_channels, config.latent_dim, config.label_dim, config.unet
    )


def _build_operator(config: KDMConfig) -> nn.Module:
    from koopkit.operators import make_operator

    dim = config.latent_dim_resolved
    if config.operator == "lowrank":
        return make_operator("lowrank", dim, rank=config.operator_rank, bias=config.operator_bias)
    return make_operator(config.operator, dim, bias=config.operator_bias)


class _GeneratorMixin:
    """Shared by KDM and the KD baseline: batch unpacking, adversary, one-step sampling."""

    config: KDMConfig
    discriminator: nn.Module | None

    def _init_common(self, config: KDMConfig) -> None:
        self.config = config
        self.sigma_max = float(config.sigma_max)
        self.data_shape = tuple(config.data_shape)
        self.recon_loss = ReconstructionLoss(
            config.loss,
            huber_c=config.huber_c,
            lpips_weights=config.lpips_weights,
            lpips_resize=config.lpips_resize,
        )
        self.discriminator = (
            make_discriminator(self.data_shape, config.discriminator_channels)
            if config.w_adv > 0
            else None
        )
        self._last_fake: tuple[torch.Tensor, torch.Tensor] | None = None

    def _unpack(self, batch: dict[str, torch.Tensor]):
        missing = [k for k in ("noise", "sample") if k not in batch]
        if missing:
            raise ValueError(
                f"batch must hold 'noise' and 'sample' (and optional 'label'); missing {missing}"
            )
        x0, eps = batch["sample"], batch["noise"]
        if tuple(x0.shape[1:]) != self.data_shape or x0.shape != eps.shape:
            raise ValueError(
                f"batch 'noise' and 'sample' must have shape (batch, *{self.data_shape}), "
                f"got {tuple(eps.shape)} and {tuple(x0.shape)}"
            )
        labels = batch.get("label") if self.config.label_dim else None
        return x0, eps, labels

    def _adversarial(self, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        if self.discriminator is None:
            return fake.new_zeros(())
        self._last_fake = (eps, fake.detach())
        # Detached discriminator parameters: this term trains the generator only.
        params = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        return generator_adversarial_loss(functional_call(self.discriminator, params, (fake,)))

    def discriminator_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Non-saturating discriminator loss: teacher samples are real, one-step samples fake.

        The fake samples are those of the last :meth:`losses` call on the same batch (recomputed
        when the batch differs).

        Returns
        -------
        Tensor
            Scalar.
        """
        if self.discriminator is None:
            raise ValueError("discriminator_loss needs the adversary on (config.w_adv > 0)")
        x0, eps, labels = self._unpack(batch)
        if self._last_fake is not None and self._last_fake[0] is eps:
            fake = self._last_fake[1]
        else:
            with torch.no_grad():
                fake = self.generate(eps, labels)
        self._last_fake = None
        return discriminator_adversarial_loss(self.discriminator(x0), self.discriminator(fake))

    @torch.no_grad()
    def sample(
        self,
        n: int | None = None,
        noise: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """One-step samples (one network pass, no gradient, eval mode).

        Parameters
        ----------
        n : int, optional
            Number of samples when ``noise`` is not given.
        noise : Tensor of shape (n, C, ...) (``(n, *data_shape)``), optional
            Unscaled ``ε ~ N(0, I)``; drawn with ``generator`` when omitted.
        labels : Tensor of shape (n,), optional
            Classes for a conditional model; drawn uniformly with ``generator`` when omitted.
        generator : torch.Generator, optional
            Makes the drawn noise and labels reproducible.

        Returns
        -------
        Tensor of shape (n, C, ...) (``(n, *data_shape)``)
        """
        ref = next(self.parameters())
        if noise is None:
            if n is None or n < 1:
                raise ValueError("sample needs a positive n or a noise tensor")
            gen_device = generator.device if generator is not None else ref.device
            noise = torch.randn((n, *self.data_shape), generator=generator, device=gen_device)
        noise = noise.to(device=ref.device, dtype=ref.dtype)
        if self.config.label_dim and labels is None:
            gen_device = generator.device if generator is not None else ref.device
            labels = torch.randint(
                self.config.label_dim, (noise.shape[0],), generator=generator, device=gen_device
            )
        was_training = self.training
        self.eval()
        try:
            return self.generate(noise, labels)
        finally:
            self.train(was_training)


class KDM(_GeneratorMixin, nn.Module):
    """Koopman Distillation Model: one-step generator ``x0 = D(K(E_T(σmax·ε)))``.

    Parameters
    ----------
    config : KDMConfig

    Notes
    -----
    Public attributes: ``encoder_noise``, ``encoder_data`` (training only) and ``decoder``
    (``E_T``, ``E_0``, ``D``); ``operator`` (``K`` on flat latents ``(batch, latent_dim)``, from
    :mod:`koopkit.operators`); ``control`` (``B`` of ``B·y``, conditional models, else ``None``);
    ``discriminator`` (when ``config.w_adv > 0``, else ``None``); ``sigma_max``; ``config``.
    """

    def __init__(self, config: KDMConfig) -> None:
        super().__init__()
        self._init_common(config)
        self.encoder_noise = build_encoder(config, input_scale=_noise_scale(config))
        self.encoder_data = build_encoder(config)
        self.decoder = build_decoder(config)
        self.operator = _build_operator(config)
        dim = config.latent_dim_resolved
        self.control = nn.Linear(config.label_dim, dim, bias=False) if config.label_dim else None
        if self.control is not None:
            nn.init.zeros_(self.control.weight)

    def encode_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``zT = E_T(σmax·ε)``: unscaled noise ``(B, *data_shape)`` → ``(B, latent_dim)``."""
        return self.encoder_noise(noise * self.sigma_max, labels)

    def encode_data(self, x0: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z0 = E_0(x0)``: clean samples ``(B, *data_shape)`` → latent ``(B, latent_dim)``."""
        return self.encoder_data(x0, labels)

    def advance(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``K z + B·y``: one Koopman step on ``(B, latent_dim)`` (control term if conditional)."""
        out = self.operator(z)
        y = (
            one_hot(labels, self.config.label_dim, z.shape[0], z)
            if self.control is not None
            else None
        )
        return out if y is None else out + self.control(y)

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D(z)``: latent ``(B, latent_dim)`` → samples ``(B, *data_shape)``."""
        return self.decoder(z, labels).view(z.shape[0], *self.data_shape)

    def generate(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D(K(E_T(σmax·ε)))`` with gradients (see :meth:`sample` for inference)."""
        return self.decode(self.advance(self.encode_noise(noise, labels), labels), labels)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Alias of :meth:`generate`."""
        return self.generate(noise, labels)

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The KDM training objective on one batch (module docstring; paper eqs. 5–8).

        Parameters
        ----------
        batch : dict
            ``"noise"`` (unscaled ε) and ``"sample"`` (teacher x0), both ``(B, *data_shape)``;
            ``"label"`` ``(B,)`` for conditional models.

        Returns
        -------
        dict of str to Tensor
            Scalars ``latent``, ``reconstruction``, ``push``, ``adversarial``, ``operator`` (the
            unweighted terms) and ``total`` (their weighted sum, the adversarial term at
            ``0.01·w_adv``). ``‖·‖²`` of the latent term is the mean over batch and latent
            coordinates.
        """
        cfg = self.config
        x0, eps, labels = self._unpack(batch)
        n = x0.shape[0]
        z0 = self.encode_data(x0, labels)
        z_t = self.encode_noise(eps, labels)
        z_hat = self.advance(z_t + cfg.sigma_z * torch.randn_like(z_t), labels)
        latent = F.mse_loss(z_hat, z0)
        # One decoder pass over both inputs: [z0 + σz·n2 ; ẑ0].
        z_dec = torch.cat([z0 + cfg.sigma_z * torch.randn_like(z0), z_hat])
        lab_dec = None if labels is None else torch.cat([labels, labels])
        x_dec = self.decode(z_dec, lab_dec)
        x_rec, x_push = x_dec[:n], x_dec[n:]
        reconstruction, push = self.recon_loss.against([x_rec, x_push], x0)
        adversarial = self._adversarial(x_push, eps)
        penalty = self.operator.penalty()
        total = (
            cfg.w_latent * latent
            + cfg.w_rec * reconstruction
            + cfg.w_push * push
            + cfg.w_operator * penalty
            + 0.01 * cfg.w_adv * adversarial
        )
        return {
            "latent": latent,
            "reconstruction": reconstruction,
            "push": push,
            "adversarial": adversarial,
            "operator": penalty,
            "total": total,
        }

    def sampling_parameters(self) -> int:
        """Number of parameters on the one-step sampling path (``E_T``, ``K``, ``B``, ``D``)."""
        mods = [self.encoder_noise, self.operator, self.decoder]
        if self.control is not None:
            mods.append(self.control)
        return sum(p.numel() for m in mods for p in m.parameters())
