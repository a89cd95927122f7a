"""EDM (Karras, Aittala, Aila, Laine, NeurIPS 2022): the bottom wing of the package.

* :func:`precond_coefficients`, :class:`EDMPrecond` — ``D(x, σ) = c_skip·x + c_out·F(c_in·x,
  c_noise)`` (Table 1); :func:`input_scale` is ``c_in`` as a float;
* :func:`edm_loss` — ``λ(σ)·‖D(y + σn, σ) − y‖²``, ``ln σ ~ N(P_mean, P_std²)`` (Eq. 2);
* :func:`sigma_schedule`, :func:`heun_sample` — the ρ-spaced steps (Eq. 5) and the deterministic
  2nd-order sampler (Algorithm 1);
* :mod:`~koopkit_diffusion.edm.nets` — the networks
  (:class:`~koopkit_diffusion.edm.nets.mlp.MLPNet`, :class:`~koopkit_diffusion.edm.nets.unet.UNet`);
* :func:`one_hot` — the one class-label helper; :func:`noise_batches` and :func:`class_labels`
  — the one rule for the seeded noises and classes a model is sampled from.

Nothing here imports another part of :mod:`koopkit_diffusion`.
"""

from .labels import one_hot
from .loss import edm_loss
from .noise import class_labels, concat_batches, noise_batches
from .precond import Denoiser, EDMPrecond, input_scale, precond_coefficients
from .sampler import HeunSample, exact_gaussian_denoiser, heun_sample, sigma_schedule

__all__ = [
    "Denoiser",
    "EDMPrecond",
    "HeunSample",
    "class_labels",
    "concat_batches",
    "edm_loss",
    "exact_gaussian_denoiser",
    "heun_sample",
    "input_scale",
    "noise_batches",
    "one_hot",
    "precond_coefficients",
    "sigma_schedule",
]
