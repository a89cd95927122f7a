"""The base of the one-step generators (KDM and the KD baseline)."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.func import functional_call

from koopkit_diffusion.edm import noise_batches

from .config import KDMConfig
from .discriminators import (
    discriminator_adversarial_loss,
    generator_adversarial_loss,
    make_discriminator,
)
from .losses import ReconstructionLoss

__all__ = ["OneStepGenerator", "OneStepSampling"]


class OneStepSampling:
    """Batched one-step sampling for anything with ``sample(noise=..., labels=...)``, ``shape``
    and ``label_dim`` (every student; a stand-in in a test)."""

    @torch.no_grad()
    def sample_batches(
        self,
        n: int | None = None,
        *,
        noise: torch.Tensor | None = None,
        labels: torch.Tensor | int | None = None,
        seed: int = 0,
        batch_size: int = 10_000,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """``n`` one-step samples in batches: the one way the package samples a student.

        The noises and classes follow :func:`koopkit_diffusion.edm.noise_batches` (one CPU draw
        from ``seed``, whatever ``batch_size``; uniform random classes for a conditional model),
        so the samples of a seed are the same on any device and for any batch size.

        Parameters
        ----------
        n : int, optional
            Number of samples (when ``noise`` is not given).
        noise : Tensor of shape (n, *shape), optional
            The unscaled noises to map (e.g. a teacher's pairs, to compare on the same noises).
        labels : Tensor of shape (n,) or int, optional
            Classes of a conditional model: given, one class for all, or (``None``) uniform
            random from ``seed``.
        seed : int, default 0
        batch_size : int, default 10000

        Yields
        ------
        samples : Tensor of shape (batch, *shape), on the CPU
        labels : Tensor of shape (batch,) or None
        """
        parameters = getattr(self, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        device = torch.device("cpu") if first is None else first.device
        batches = noise_batches(
            n, self.shape, seed=seed, batch_size=batch_size, label_dim=self.label_dim,
            labels=labels, noise=noise,
        )  # fmt: skip
        for eps, y in batches:
            x = self.sample(noise=eps.to(device), labels=None if y is None else y.to(device))
            yield x.cpu(), y


class OneStepGenerator(OneStepSampling, nn.Module):
    """What KDM and the KD baseline share: batch unpacking, the adversary, one-step sampling.

    Subclasses build their networks after :meth:`_init_common` and define ``generate(noise,
    labels)`` (with gradients) and ``losses(batch)``.

    Attributes
    ----------
    config : KDMConfig
    shape : tuple of int
        Shape of one sample.
    label_dim : int
        Number of classes (0: unconditional).
    sigma_max : float
        Scale of the teacher's starting noise.
    recon_loss : ReconstructionLoss
    discriminator : torch.nn.Module or None
        Present when ``config.w_adv > 0``.
    """

    config: KDMConfig
    discriminator: nn.Module | None

    def _init_common(self, config: KDMConfig) -> None:
        self.config = config
        self.sigma_max = float(config.sigma_max)
        self.shape = tuple(config.shape)
        self.label_dim = int(config.label_dim)
        self.recon_loss = ReconstructionLoss(
            config.loss,
            huber_c=config.huber_c,
            lpips_weights=config.lpips_weights,
            lpips_resize=config.lpips_resize,
            lpips_pooling=config.lpips_pooling,
        )
        self.discriminator = (
            make_discriminator(self.shape, config.discriminator_channels, config.discriminator)
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
        if tuple(x0.shape[1:]) != self.shape or x0.shape != eps.shape:
            raise ValueError(
                f"batch 'noise' and 'sample' must have shape (batch, *{self.shape}), "
                f"got {tuple(eps.shape)} and {tuple(x0.shape)}"
            )
        labels = batch.get("label") if self.config.label_dim else None
        return x0, eps, labels

    def _training_fake(self, noise: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        return self.generate(noise, labels)

    def _adversarial(self, fake: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        if self.discriminator is None:
            return fake.new_zeros(())
        self._last_fake = (eps, fake.detach())
        # Detached discriminator parameters: this term trains the generator only.
        params = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        return generator_adversarial_loss(functional_call(self.discriminator, params, (fake,)))

    def discriminator_loss(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Non-saturating discriminator loss: teacher samples are real, one-step samples fake.

        The fake samples are those of the last :meth:`losses` call on the same batch; when the
        batch differs (the discriminator steps before the generator, as in the KDM authors'
        code), they are drawn afresh, without gradient, the way :meth:`losses` draws them.

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
        else:  # e.g. the discriminator steps first (``TrainerConfig.disc_first``)
            with torch.no_grad():
                fake = self._training_fake(eps, labels)
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
        noise : Tensor of shape (n, C, ...) (``(n, *shape)``), optional
            Unscaled ``ε ~ N(0, I)``; drawn with ``generator`` when omitted.
        labels : Tensor of shape (n,), optional
            Classes for a conditional model; drawn uniformly with ``generator`` when omitted.
        generator : torch.Generator, optional
            Makes the drawn noise and labels reproducible.

        Returns
        -------
        Tensor of shape (n, C, ...) (``(n, *shape)``)
        """
        ref = next(self.parameters())
        if noise is None:
            if n is None or n < 1:
                raise ValueError("sample needs a positive n or a noise tensor")
            gen_device = generator.device if generator is not None else ref.device
            noise = torch.randn((n, *self.shape), generator=generator, device=gen_device)
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
