"""Graceful stop on SIGTERM / SIGINT: finish the step, checkpoint, return.

Schedulers announce preemption with SIGTERM (SLURM, Kubernetes; ``torchrun`` forwards it to
every worker). While :meth:`Trainer.train` runs, the first SIGTERM or SIGINT only raises a flag;
the loop stops after the current step, writes a checkpoint and returns, so that
``resume=True`` continues exactly. The previous handlers are restored at once, so a second
signal acts as usual (a second Ctrl-C raises ``KeyboardInterrupt``).
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

import torch
import torch.distributed as dist

from .distributed import DistContext

__all__ = ["StopOnSignal"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopOnSignal:
    """Context manager that turns the first SIGTERM/SIGINT into a stop request.

    Parameters
    ----------
    enabled : bool
        Install the handlers (only possible in the main thread; elsewhere nothing is installed
        and :attr:`requested` stays false).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: Any) -> None:
        self._restore()

    def agreed(self, ctx: DistContext) -> bool:
        """Whether any process was asked to stop (collective under DDP when enabled)."""
        if not self.enabled:
            return False
        if not ctx.distributed:
            return self.requested
        flag = torch.tensor(int(self.requested), device=ctx.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return bool(flag)
