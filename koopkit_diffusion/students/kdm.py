"""The Koopman Distillation Model (KDM; Berman, Naiman, Eliasof, Zisling, Azencot 2025).

A multi-step diffusion teacher is distilled into a one-step generator by learning a *linear*
(Koopman) map between two latent spaces: the noise encoder ``E_T`` embeds the scaled noise
``x_T = σmax·ε``, the operator ``K`` advances it, and the decoder ``D`` returns a clean sample.

Training step (paper §3, eqs. 5–8), latent noise ``σz`` (0.4 in the paper)::

    z0 = E_0(x0),  zT = E_T(x_T),  ẑ0 = K(zT + σz·n1) (+ B·y + c)
    L_latent = ‖z0 − ẑ0‖²                  gradient reaches both encoders
    L_rec    = ℓ(x0, D(z0 + σz·n2))
    L_push   = ℓ(x0, D(ẑ0))                 (weight 0 in the authors' 2-D model)
    L_adv    = non-saturating GAN loss on D(ẑ0), weight 0.01·w   (optional)
    L_op     = operator penalty (Q ≈ P⁻¹ and eigenvalue targets, eigendecomposed operators)

One-step sampling: ``x0 = D(K(E_T(σmax·ε)))``; ``E_0`` is used in training only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from koopkit_diffusion.edm import one_hot

from .base import OneStepGenerator
from .config import KDMConfig
from .networks import build_decoder, build_encoder, build_operator

__all__ = ["KDM"]


class KDM(OneStepGenerator):
    """Koopman Distillation Model: one-step generator ``x0 = D(K(E_T(σmax·ε)))``.

    Parameters
    ----------
    config : KDMConfig

    Notes
    -----
    Public attributes: ``encoder_noise``, ``encoder_data`` (training only) and ``decoder``
    (``E_T``, ``E_0``, ``D``); ``operator`` (``K`` on flat latents ``(batch, latent_dim)``, from
    :mod:`koopkit.operators`); ``control`` (``B·y + c``, a ``torch.nn.Linear`` as the authors',
    when ``config.conditioning == "control"`` and the model is conditional, else ``None``);
    ``discriminator`` (when ``config.w_adv > 0``, else ``None``); ``sigma_max``; ``config``.
    """

    def __init__(self, config: KDMConfig) -> None:
        super().__init__()
        self._init_common(config)
        self.encoder_noise = build_encoder(config, noise=True)
        self.encoder_data = build_encoder(config)
        self.decoder = build_decoder(config)
        self.operator = build_operator(config)
        dim = config.latent_dim_resolved
        with_control = config.label_dim and config.conditioning == "control"
        self.control = nn.Linear(config.label_dim, dim) if with_control else None

    def encode_noise(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``zT = E_T(σmax·ε)``: unscaled noise ``(B, *shape)`` → ``(B, latent_dim)``."""
        return self.encoder_noise(noise * self.sigma_max, labels)

    def _training_fake(self, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        # D(K(zT + σz·n1)): the samples the push and adversarial terms see in training.
        z_t = self.encode_noise(noise, labels)
        z_hat = self.advance(z_t + self.config.sigma_z * torch.randn_like(z_t), labels)
        return self.decode(z_hat, labels)

    def encode_data(self, x0: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``z0 = E_0(x0)``: clean samples ``(B, *shape)`` → latent ``(B, latent_dim)``."""
        return self.encoder_data(x0, labels)

    def advance(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``K z + B·y``: one Koopman step on ``(B, latent_dim)`` (control term if conditional)."""
        out = self.operator(z)
        if self.control is None:
            return out
        return out + self.control(one_hot(labels, self.label_dim, z.shape[0], z))

    def decode(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``D(z)``: latent ``(B, latent_dim)`` → samples ``(B, *shape)``."""
        return self.decoder(z, labels).view(z.shape[0], *self.shape)

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
            ``"noise"`` (unscaled ε) and ``"sample"`` (teacher x0), both ``(B, *shape)``;
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
        z_rec = z0 + cfg.sigma_z * torch.randn_like(z0)
        if cfg.w_push > 0 or self.discriminator is not None:
            # One decoder pass over both inputs: [z0 + σz·n2 ; ẑ0].
            lab_dec = None if labels is None else torch.cat([labels, labels])
            x_dec = self.decode(torch.cat([z_rec, z_hat]), lab_dec)
            x_rec, x_push = x_dec[:n], x_dec[n:]
            reconstruction, push = self.recon_loss.against([x_rec, x_push], x0)
        else:  # the push term is logged only (the authors' 2-D model)
            reconstruction = self.recon_loss(self.decode(z_rec, labels), x0)
            with torch.no_grad():
                push = self.recon_loss(self.decode(z_hat, labels), x0)
            x_push = None
        adversarial = self._adversarial(x_push, eps) if x_push is not None else latent.new_zeros(())
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
