"""The knowledge-distillation (KD) baseline of Luhman & Luhman (2021).

"Knowledge distillation in iterative generative models for improved sampling speed" trains a
network ``G`` to map the teacher's starting noise directly to the teacher's sample, ``min E ℓ(x0,
G(σmax·ε))``, on a fixed set of noise→sample pairs. It is the comparison KDM must beat: here ``G``
has *the same sampling path* as a :class:`~koopkit_diffusion.students.kdm.KDM` built from the same
:class:`~koopkit_diffusion.students.config.KDMConfig` — encoder ``E``, an affine map of the latent
dimension, decoder ``D`` — so the two have equal parameter counts and cost per sample, and it is
trained on the same pairs with the same reconstruction loss (and adversary, if on).
"""

from __future__ import annotations

import torch

from koopkit.operators import DenseOperator

from .base import OneStepGenerator
from .config import KDMConfig
from .networks import build_decoder, build_encoder

__all__ = ["KDBaseline"]


class KDBaseline(OneStepGenerator):
    """Direct noise→sample generator ``G(ε) = D(A·E(σmax·ε) + b)`` trained by regression.

    Parameters
    ----------
    config : KDMConfig
        Networks, loss and adversary as for KDM; the latent, operator and σz settings other than
        the latent size are unused (there is no latent target).

    Notes
    -----
    Public attributes: ``encoder``, ``middle`` (the ``latent_dim × latent_dim`` affine map, the
    counterpart of KDM's dense operator, initialised as ``config.operator_init`` says),
    ``decoder``, ``discriminator`` (or ``None``),
    ``sigma_max``, ``config``.
    """

    def __init__(self, config: KDMConfig) -> None:
        super().__init__()
        self._init_common(config)
        dim = config.latent_dim_resolved
        self.encoder = build_encoder(config, noise=True)
        self.middle = DenseOperator(dim, bias=True, init=config.operator_init)
        self.decoder = build_decoder(config)

    def generate(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """``G(ε)`` with gradients, ``(B, *shape)`` unscaled noise → samples."""
        z = self.middle(self.encoder(noise * self.sigma_max, labels))
        return self.decoder(z, labels).view(noise.shape[0], *self.shape)

    def forward(self, noise: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Alias of :meth:`generate`."""
        return self.generate(noise, labels)

    def losses(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Regression onto the teacher's samples.

        Parameters
        ----------
        batch : dict
            ``"noise"`` (unscaled ε), ``"sample"``, optional ``"label"``.

        Returns
        -------
        dict of str to Tensor
            ``push`` = ``ℓ(x0, G(ε))``, ``adversarial`` and ``total`` =
            ``push + 0.01·w_adv·adversarial``.
        """
        x0, eps, labels = self._unpack(batch)
        fake = self.generate(eps, labels)
        push = self.recon_loss(fake, x0)
        adversarial = self._adversarial(fake, eps)
        total = push + 0.01 * self.config.w_adv * adversarial
        return {"push": push, "adversarial": adversarial, "total": total}

    def sampling_parameters(self) -> int:
        """Number of parameters on the sampling path (all but the discriminator)."""
        mods = (self.encoder, self.middle, self.decoder)
        return sum(p.numel() for m in mods for p in m.parameters())
