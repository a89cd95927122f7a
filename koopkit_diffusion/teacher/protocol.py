"""What a teacher offers the rest of the package: its description and its one sampler.

A teacher is anything with

* ``shape`` (one sample), ``label_dim`` (0: unconditional), ``sigma_min``, ``sigma_max`` (its
  noise range; the pairs' noise is ``ε`` and the teacher starts from ``sigma_max · ε``) and
  ``sigma_data``;
* ``integrate(noise, labels=None, n_steps=18, dtype=None)``: its ODE from the unscaled noise
  ``ε`` to a sample — the only place a teacher is sampled, whoever asks (pair generation,
  evaluation on the same noises, sample figures, FID);
* ``sample_batches(n | noise, labels, seed, batch_size, n_steps)``: that sampler on the package's
  seeded noises (:func:`koopkit_diffusion.edm.noise_batches`), in batches — the same vocabulary
  as a one-step student's;
* ``nfe(n_steps)`` and ``sampler_record(n_steps, compute_dtype)``: the cost and the description of
  that sampler, which pair sets record.

:class:`SamplingTeacher` holds what is common; :class:`EDMSampling` adds EDM's sampler for
denoisers (the project's :class:`~koopkit_diffusion.teacher.model.Teacher` and a user's own
function wrapped in :class:`DenoiserTeacher`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch

from koopkit_diffusion.edm import heun_sample, noise_batches

__all__ = ["DenoiserTeacher", "EDMSampling", "SamplingTeacher"]


class SamplingTeacher:
    """What every teacher kind shares: its device and batched sampling on seeded noises.

    Subclasses define ``integrate``, ``nfe`` and ``sampler_record`` (and have ``shape``,
    ``label_dim``, ``sigma_min``, ``sigma_max``).
    """

    @property
    def device(self) -> torch.device:
        """Where the teacher runs: the device of its first parameter (else the CPU)."""
        parameters = getattr(self, "parameters", None)
        first = next(iter(parameters()), None) if callable(parameters) else None
        return torch.device("cpu") if first is None else first.device

    @torch.no_grad()
    def sample_batches(
        self,
        n: int | None = None,
        *,
        noise: torch.Tensor | None = None,
        labels: torch.Tensor | int | None = None,
        seed: int = 0,
        batch_size: int = 10_000,
        n_steps: int = 18,
        dtype: torch.dtype | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
        """The teacher's samples of ``n`` seeded (or given) noises, in batches, on the CPU.

        The noises and classes follow :func:`koopkit_diffusion.edm.noise_batches`, so the
        samples of a seed depend neither on ``batch_size`` nor on the device.

        Parameters
        ----------
        n : int, optional
            Number of samples (when ``noise`` is not given).
        noise : Tensor of shape (n, *shape), optional
            The unscaled noises to start from (e.g. a student's, to compare on the same noises).
        labels : Tensor of shape (n,) or int, optional
            Classes of a conditional teacher (default: uniform random from ``seed``).
        seed : int, default 0
        batch_size : int, default 10000
        n_steps : int, default 18
            Steps of :meth:`integrate`.
        dtype : torch.dtype, optional
            ODE state dtype (see :meth:`integrate`).

        Yields
        ------
        samples : Tensor of shape (batch, *shape), on the CPU
        labels : Tensor of shape (batch,) or None
        """
        batches = noise_batches(
            n, self.shape, seed=seed, batch_size=batch_size, label_dim=self.label_dim,
            labels=labels, noise=noise,
        )  # fmt: skip
        for eps, y in batches:
            yield self.integrate(eps, y, n_steps, dtype=dtype).cpu(), y


class EDMSampling(SamplingTeacher):
    """EDM's deterministic Heun sampler over the teacher's own noise range.

    Mixed into classes that are denoisers ``D(x, σ, labels)`` with ``shape``, ``sigma_min`` and
    ``sigma_max``.
    """

    #: The kind of teacher, recorded in pair-set manifests.
    kind = "edm"
    #: EDM's spacing exponent of the noise levels (Karras et al. 2022, Eq. 5).
    rho = 7.0

    def integrate(
        self,
        noise: torch.Tensor,
        labels: torch.Tensor | None = None,
        n_steps: int = 18,
        dtype: torch.dtype | None = None,
    ) -> torch.Tensor:
        """Run the probability-flow ODE from ``σmax · noise`` down to 0 (Algorithm 1).

        Parameters
        ----------
        noise : Tensor of shape (batch, *shape)
            Unscaled ``ε ~ N(0, I)`` (moved to the teacher's device).
        labels : Tensor of shape (batch,), optional
            Classes of a conditional teacher.
        n_steps : int, default 18
            Heun steps ``N`` (``2N − 1`` evaluations).
        dtype : torch.dtype, optional
            ODE state dtype; default float64 for vectors, float32 for images.

        Returns
        -------
        Tensor of shape (batch, *shape), dtype ``dtype``, on the teacher's device
        """
        return self._heun(noise, labels, n_steps, dtype, trajectory=False).samples

    def trajectory(
        self,
        noise: torch.Tensor,
        labels: torch.Tensor | None = None,
        n_steps: int = 18,
        dtype: torch.dtype | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The states of :meth:`integrate` at every step, and the noise levels they are at.

        Returns
        -------
        states : Tensor of shape (n_steps + 1, batch, *shape), on the teacher's device
            ``σmax·ε`` first, the sample last.
        times : Tensor of shape (n_steps + 1,)
            The noise levels ``σ_i`` of the states (``σmax`` first, 0 last).
        """
        run = self._heun(noise, labels, n_steps, dtype, trajectory=True)
        return run.trajectory, run.sigmas

    def _heun(self, noise, labels, n_steps, dtype, trajectory):
        if dtype is None:
            dtype = torch.float64 if len(self.shape) == 1 else torch.float32
        device = self.device
        return heun_sample(
            self,
            noise.to(device),
            n_steps,
            None if labels is None else labels.to(device),
            sigma_min=self.sigma_min,
            sigma_max=self.sigma_max,
            rho=self.rho,
            return_trajectory=trajectory,
            dtype=dtype,
        )

    def nfe(self, n_steps: int) -> int:
        """Network evaluations of :meth:`integrate` with ``n_steps`` steps: ``2N − 1``."""
        return 2 * int(n_steps) - 1

    def sampler_record(self, n_steps: int, compute_dtype: str) -> dict[str, Any]:
        """The sampler as a pair set's manifest records it."""
        return {
            "name": "edm_heun",
            "n_steps": int(n_steps),
            "nfe": self.nfe(n_steps),
            "sigma_min": float(self.sigma_min),
            "sigma_max": float(self.sigma_max),
            "rho": float(self.rho),
            "compute_dtype": compute_dtype,
        }


class DenoiserTeacher(EDMSampling):
    """A denoiser function of your own, ``D(x, σ, labels) -> x̂0``, as a teacher.

    Parameters
    ----------
    denoiser : callable
        ``denoiser(x, sigma, labels)`` with ``x`` of shape ``(batch, *shape)``, ``sigma`` of shape
        ``(batch,)`` and ``labels`` ``None`` or ``(batch,)`` classes; returns ``D(x, σ)``.
        An ``nn.Module`` is used as it is (its ``state_dict`` identifies it in pair sets).
    shape : tuple of int
        Shape of one sample.
    label_dim : int, default 0
    sigma_min, sigma_max : float, default 0.002, 80.0
        Noise range of the sampler.
    sigma_data : float or None, default None
        Standard deviation of the data, when known (students scale their input with it).
    """

    def __init__(
        self,
        denoiser: Callable[..., torch.Tensor],
        shape: tuple[int, ...],
        label_dim: int = 0,
        sigma_min: float = 0.002,
        sigma_max: float = 80.0,
        sigma_data: float | None = None,
    ) -> None:
        if not callable(denoiser):
            raise ValueError(
                f"denoiser must be callable(x, sigma, labels), got {type(denoiser).__name__}"
            )
        self.shape = tuple(int(s) for s in shape)
        if not self.shape or min(self.shape) < 1:
            raise ValueError(f"shape must be a tuple of positive sizes, got {shape!r}")
        if isinstance(label_dim, bool) or not isinstance(label_dim, int) or label_dim < 0:
            raise ValueError(f"label_dim must be a non-negative integer, got {label_dim!r}")
        if not (
            math.isfinite(sigma_min) and math.isfinite(sigma_max) and 0 < sigma_min < sigma_max
        ):
            raise ValueError(
                f"need finite 0 < sigma_min < sigma_max, got {sigma_min!r} and {sigma_max!r}"
            )
        self.denoiser, self.label_dim = denoiser, label_dim
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self.sigma_data = None if sigma_data is None else float(sigma_data)

    def __call__(
        self, x: torch.Tensor, sigma: torch.Tensor, labels: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.denoiser(x, sigma, labels)

    def parameters(self):
        """The wrapped module's parameters (none for a plain function)."""
        parameters = getattr(self.denoiser, "parameters", None)
        return parameters() if callable(parameters) else iter(())

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The wrapped module's state (empty for a plain function)."""
        state_dict = getattr(self.denoiser, "state_dict", None)
        return state_dict() if callable(state_dict) else {}

    @property
    def training(self) -> bool:
        """Whether the wrapped module is in training mode (``False`` for a function)."""
        return bool(getattr(self.denoiser, "training", False))

    def __repr__(self) -> str:
        name = getattr(self.denoiser, "__qualname__", type(self.denoiser).__qualname__)
        return f"DenoiserTeacher({name}, shape={self.shape}, label_dim={self.label_dim})"
