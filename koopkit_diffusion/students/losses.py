"""Reconstruction losses ``ℓ ∈ {mse, pseudo-Huber, LPIPS, mse + LPIPS}`` of KDM.

Every reconstruction loss maps two tensors of the same shape ``(batch, *shape)`` to a scalar, the
mean over the batch (Berman et al. 2025; pseudo-Huber as in Song & Dhariwal 2023; ``mse+lpips``
is the sum, the authors' ``BOTH``). LPIPS lives in :mod:`koopkit_diffusion.students.lpips`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .lpips import LPIPS_LINEAR_FILE, LPIPS_TRUNK_FILE, cached_lpips

__all__ = ["LOSS_KINDS", "ReconstructionLoss", "mse", "pseudo_huber"]

LOSS_KINDS = ("mse", "pseudo_huber", "lpips", "mse+lpips")


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape:
        raise ValueError(
            f"loss inputs must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.ndim < 2:
        raise ValueError(f"loss inputs must have shape (batch, ...), got {tuple(x.shape)}")


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error over all elements.

    Parameters
    ----------
    x, y : Tensor of shape (batch, ...)

    Returns
    -------
    Tensor
        Scalar ``mean((x − y)²)``; zero iff ``x == y``.
    """
    _check_pair(x, y)
    return F.mse_loss(x, y)


def pseudo_huber(x: torch.Tensor, y: torch.Tensor, c: float | None = None) -> torch.Tensor:
    """Pseudo-Huber loss ``√(‖x − y‖² + c²) − c`` per sample, averaged over the batch.

    Song & Dhariwal 2023 ("Improved techniques for training consistency models", eq. 9). It is
    quadratic for small errors and linear for large ones.

    Parameters
    ----------
    x, y : Tensor of shape (batch, ...)
    c : float, optional
        Transition scale ``c > 0``. Default ``0.00054·√d`` with ``d`` the number of elements per
        sample, as in that paper.

    Returns
    -------
    Tensor
        Scalar, zero iff ``x == y``.
    """
    _check_pair(x, y)
    d = x[0].numel()
    if c is None:
        c = 0.00054 * math.sqrt(d)
    if c <= 0:
        raise ValueError(f"pseudo-Huber c must be positive, got {c}")
    sq = (x - y).flatten(1).square().sum(dim=1)
    # √(s + c²) − c written as s / (√(s + c²) + c): no cancellation, exactly 0 at s = 0.
    return (sq / (torch.sqrt(sq + c * c) + c)).mean()


class ReconstructionLoss(nn.Module):
    """``ℓ(x, y)``: one of mse, pseudo-Huber, LPIPS or mse + LPIPS, a scalar batch mean.

    The frozen LPIPS network is shared through a per-process cache (keyed by folder, resize,
    pooling and device) rather than registered as a sub-module, so model checkpoints and EMA
    copies do not carry the VGG weights.

    Parameters
    ----------
    kind : {"mse", "pseudo_huber", "lpips", "mse+lpips"}
    huber_c : float, optional
        ``c`` of :func:`pseudo_huber` (default ``0.00054·√d``).
    lpips_weights : str or os.PathLike, optional
        Folder of the LPIPS files (required with LPIPS; see :class:`LPIPS`). The files are
        checked when the loss is built.
    lpips_resize : int or None, default None
        Resolution LPIPS compares at (``None``: the input's own).
    lpips_pooling : {"avg", "max"}, default "avg"
        Pooling of LPIPS's VGG trunk.
    """

    def __init__(
        self,
        kind: str = "mse",
        huber_c: float | None = None,
        lpips_weights: str | os.PathLike | None = None,
        lpips_resize: int | None = None,
        lpips_pooling: str = "avg",
    ) -> None:
        super().__init__()
        if kind not in LOSS_KINDS:
            raise ValueError(f"unknown reconstruction loss {kind!r}; expected one of {LOSS_KINDS}")
        self.kind = kind
        self.huber_c = huber_c
        self.lpips_weights = None if lpips_weights is None else str(lpips_weights)
        self.lpips_resize = lpips_resize
        self.lpips_pooling = lpips_pooling
        if "lpips" in kind:
            if lpips_weights is None:
                raise ValueError(
                    f"the {kind!r} loss needs lpips_weights: a folder holding "
                    f"'{LPIPS_TRUNK_FILE}' and '{LPIPS_LINEAR_FILE}'"
                )
            self._lpips(torch.device("cpu"))

    def _lpips(self, device: torch.device):
        return cached_lpips(self.lpips_weights, self.lpips_resize, device, self.lpips_pooling)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scalar loss between ``x`` and ``y`` of shape ``(batch, *shape)``."""
        if self.kind == "mse":
            return mse(x, y)
        if self.kind == "pseudo_huber":
            return pseudo_huber(x, y, self.huber_c)
        return self.against([x], y)[0]

    def against(self, xs: Sequence[torch.Tensor], y: torch.Tensor) -> list[torch.Tensor]:
        """``[ℓ(x, y) for x in xs]``, sharing the work on the common target ``y``.

        With LPIPS the target's features are computed once (without gradients when ``y`` needs
        none; see :meth:`LPIPS.distances_to`); the other losses are evaluated one by one.

        Parameters
        ----------
        xs : sequence of Tensor, each of shape ``(batch, *shape)``
        y : Tensor of shape ``(batch, *shape)``

        Returns
        -------
        list of Tensor
            One scalar per entry of ``xs``.
        """
        if "lpips" not in self.kind:
            return [self(x, y) for x in xs]
        distances = [d.mean() for d in self._lpips(y.device).distances_to(xs, y)]
        if self.kind == "lpips":
            return distances
        return [mse(x, y) + d for x, d in zip(xs, distances, strict=True)]
