"""Training utilities shared by the learned models: EMA, atomic checkpoints, seeding.

The small fit loop for Koopman autoencoders lives here too (see :func:`fit`); the
diffusion trainer in ``koopkit_diffusion.trainer`` reuses the utilities.
"""

from __future__ import annotations

import copy
import os
import random
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["EMA", "seed_everything", "save_checkpoint", "load_checkpoint"]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators (CPU and CUDA).

    Parameters
    ----------
    seed : int
        Non-negative seed.
    """
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeds code that uses the legacy global state)
    torch.manual_seed(seed)


class EMA(nn.Module):
    """Exponential moving average of a model's parameters and buffers.

    ``shadow ← decay · shadow + (1 − decay) · param`` after each :meth:`update`. With
    ``warmup=True`` the effective decay is ``min(decay, (1 + n) / (10 + n))`` after ``n`` updates,
    so early averages are not dominated by the random initialisation. Buffers are copied.

    Parameters
    ----------
    model : torch.nn.Module
        The model being trained. A deep copy is kept as :attr:`module` (in eval mode, no grads).
    decay : float, default 0.9999
        Decay in ``[0, 1)``.
    warmup : bool, default False
        Use the warm-up schedule above.
    """

    def __init__(self, model: nn.Module, decay: float = 0.9999, warmup: bool = False) -> None:
        super().__init__()
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"EMA decay must lie in [0, 1), got {decay}")
        self.decay = float(decay)
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))

    def current_decay(self) -> float:
        """The decay used by the next :meth:`update`."""
        if not self.warmup:
            return self.decay
        n = int(self.num_updates)
        return min(self.decay, (1.0 + n) / (10.0 + n))

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current parameters of ``model`` into the average."""
        decay = self.current_decay()
        ema_params = dict(self.module.named_parameters())
        for name, param in model.named_parameters():
            ema_params[name].lerp_(param.detach().to(ema_params[name].dtype), 1.0 - decay)
        ema_buffers = dict(self.module.named_buffers())
        for name, buf in model.named_buffers():
            ema_buffers[name].copy_(buf)
        self.num_updates += 1

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """Call the averaged model."""
        return self.module(*args, **kwargs)


def save_checkpoint(state: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a checkpoint atomically: to a temporary file in the same folder, then rename.

    A crash mid-write leaves the previous checkpoint intact. ``state`` should hold only
    tensors, numbers, strings, lists and dicts so that it loads with ``weights_only=True``.

    Parameters
    ----------
    state : mapping
        What to save (state dicts, step counters, RNG states as tensors).
    path : str or os.PathLike
        Destination file; its folder is created if missing.

    Returns
    -------
    pathlib.Path
        The destination path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(dict(state), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` with ``weights_only=True``.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file.
    map_location : optional
        Passed to :func:`torch.load`.

    Returns
    -------
    dict
        The saved state.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path} (expected a file written by save_checkpoint)"
        )
    return torch.load(path, map_location=map_location, weights_only=True)
