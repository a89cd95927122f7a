"""Graceful stop on SIGTERM / SIGINT: finish the step, checkpoint, then stop as usual.

Schedulers announce preemption with SIGTERM (SLURM, Kubernetes; ``torchrun`` forwards it to
every worker). While :meth:`Trainer.train` runs, the first SIGTERM or SIGINT only raises a flag;
the loop stops after the current step and writes a checkpoint, and only then does the signal
take its usual effect: ``KeyboardInterrupt`` for SIGINT, ``SystemExit(143)`` for SIGTERM. The
program ends as it would have, but ``resume=True`` continues exactly. The previous handlers are
restored at once, so a second signal acts immediately.
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
        and :attr:`requested` stays 0).
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.requested = 0  # the signal number received, 0 if none
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopOnSignal:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.requested = signum
        self._restore()

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def __exit__(self, *exc: Any) -> None:
        self._restore()

    def agreed(self, ctx: DistContext) -> int:
        """The signal any process received (the highest number), 0 if none.

        Collective under DDP when enabled: every process must call it after every step.
        """
        if not self.enabled:
            return 0
        if not ctx.distributed:
            return self.requested
        flag = torch.tensor(self.requested, device=ctx.device)
        dist.all_reduce(flag, op=dist.ReduceOp.MAX)
        return int(flag)

    @staticmethod
    def raise_for(signum: int) -> None:
        """Take the signal's usual effect now: ``KeyboardInterrupt`` or ``SystemExit(128 + n)``."""
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(128 + signum)
