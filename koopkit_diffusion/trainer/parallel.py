"""The loss computations as modules, wrapped for DDP and ``torch.compile``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .config import TrainerConfig
from .distributed import DistContext

__all__ = ["wrap_step_functions", "total_loss"]


class _LossForward(nn.Module):
    """``forward(batch) = model.losses(batch)``, so DDP sees the loss computation as a forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, Any]) -> Any:
        return self.model.losses(batch)


class _DiscriminatorForward(nn.Module):
    """``forward(batch) = model.discriminator_loss(batch)``; only the discriminator is registered,
    so its DDP wrapper synchronises the discriminator's gradients alone."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.discriminator = model.discriminator
        self._owner = (model,)  # a tuple keeps the generator out of this module's parameters

    def forward(self, batch: dict[str, Any]) -> Any:
        return self._owner[0].discriminator_loss(batch)


def total_loss(losses: Any, what: str) -> torch.Tensor:
    """The scalar to backpropagate: ``losses`` itself if a tensor, else ``losses["total"]``."""
    if isinstance(losses, torch.Tensor):
        return losses
    if not isinstance(losses, Mapping) or "total" not in losses:
        raise ValueError(
            f"{what} must return a dict of tensors with a 'total' entry, got {losses!r}"
        )
    return losses["total"]


def wrap_step_functions(
    model: nn.Module, ctx: DistContext, with_discriminator: bool, config: TrainerConfig
) -> tuple[nn.Module, nn.Module | None]:
    """Callables ``gen(batch) -> losses`` and ``disc(batch) -> loss`` (or None).

    Under DDP the generator's wrapper ignores the discriminator's parameters (its optimizer
    steps them separately, through the second wrapper), so each all-reduce covers exactly the
    parameters its optimizer updates. ``torch.compile`` wraps the DDP modules, as recommended
    for DDP's graph-break-aware optimizer.
    """
    gen: nn.Module = _LossForward(model)
    disc: nn.Module | None = _DiscriminatorForward(model) if with_discriminator else None
    if ctx.distributed:
        ids = [ctx.device.index] if ctx.device.type == "cuda" else None
        if isinstance(getattr(model, "discriminator", None), nn.Module):
            owned = {id(t) for t in model.discriminator.parameters()}
            owned |= {id(t) for t in model.discriminator.buffers()}
            ignore = [n for n, t in gen.named_parameters() if id(t) in owned]
            ignore += [n for n, t in gen.named_buffers() if id(t) in owned]
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(gen, ignore)
        gen = DistributedDataParallel(
            gen, device_ids=ids, find_unused_parameters=config.find_unused_parameters
        )
        if disc is not None:
            disc = DistributedDataParallel(disc, device_ids=ids)
    if config.compile:
        gen = torch.compile(gen)
        disc = torch.compile(disc) if disc is not None else None
    return gen, disc
