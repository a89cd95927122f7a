"""Tiny models implementing the trainer's protocol, for the trainer tests and the DDP script."""

from __future__ import annotations

import random

import numpy as np
import torch
from torch import nn

from koopkit_diffusion.trainer import TensorDictDataset


def toy_dataset(n: int = 40, seed: int = 0) -> TensorDictDataset:
    """``n`` pairs of 2-D noise and a fixed nonlinear map of it."""
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(n, 2, generator=g)
    sample = torch.stack([noise[:, 0] + noise[:, 1] ** 2, torch.sin(noise[:, 0])], dim=1)
    return TensorDictDataset(noise=noise, sample=sample)


class ToyRegressor(nn.Module):
    """``losses`` draws from torch, NumPy and Python RNGs, so resume must restore all three."""

    def __init__(self, noisy: bool = True, nan_at: tuple[int, ...] = (), fail_at: int = -1):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(2, 16), nn.SiLU(), nn.Linear(16, 2))
        self.noisy, self.nan_at, self.fail_at = noisy, set(nan_at), fail_at
        self.calls = 0

    def losses(self, batch: dict) -> dict:
        call, self.calls = self.calls, self.calls + 1
        if call == self.fail_at:
            raise RuntimeError("simulated crash")
        x = batch["noise"]
        scale = 1.0
        if self.noisy:
            x = x + 0.1 * torch.randn_like(x)
            scale = 1.0 + 0.01 * float(np.random.rand()) + 0.01 * random.random()  # noqa: NPY002
        mse = scale * ((self.net(x) - batch["sample"]) ** 2).mean()
        if call in self.nan_at:
            mse = mse * float("nan")
        return {"total": mse, "mse": mse.detach()}


class ToyGAN(ToyRegressor):
    """A regressor with a discriminator and a non-saturating adversarial term."""

    def __init__(self, noisy: bool = True) -> None:
        super().__init__(noisy=noisy)
        self.discriminator = nn.Sequential(nn.Linear(2, 8), nn.SiLU(), nn.Linear(8, 1))

    def losses(self, batch: dict) -> dict:
        out = super().losses(batch)
        fake = self.net(batch["noise"])
        adv = nn.functional.softplus(-self.discriminator(fake)).mean()
        out["adversarial"] = adv.detach()
        out["total"] = out["total"] + 0.01 * adv
        return out

    def discriminator_loss(self, batch: dict) -> torch.Tensor:
        fake = self.net(batch["noise"]).detach()
        real, fake = self.discriminator(batch["sample"]), self.discriminator(fake)
        return nn.functional.softplus(-real).mean() + nn.functional.softplus(fake).mean()
