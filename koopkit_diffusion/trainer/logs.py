"""The trainer's records: ``metrics.jsonl`` (averaged over steps and ranks) and TensorBoard."""

from __future__ import annotations

import json
from typing import Any

import torch

__all__ = ["LoggingMixin"]


class LoggingMixin:
    """Writing the run's metric records.

    Mixed into :class:`~koopkit_diffusion.trainer.loop.Trainer`, whose attributes it reads.
    """

    @staticmethod
    def _summary_writer_class() -> Any:
        """``SummaryWriter``, or an ``ImportError`` that says how to install it.

        Every rank checks it before anything is written, so that all fail together and a
        refused run leaves no files.
        """
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as err:
            raise ImportError(
                "train.tensorboard=true needs the 'tensorboard' package: pip install tensorboard "
                "(or the project's extra: pip install 'koopkit[tensorboard]'); metrics.jsonl is "
                "written either way"
            ) from err
        return SummaryWriter

    def _tensorboard(self) -> Any:
        """A SummaryWriter on rank 0 (``None`` elsewhere)."""
        writer = self._summary_writer_class()
        return writer(log_dir=str(self.run_dir / "tensorboard")) if self.ctx.is_main else None

    def _log(self, epoch: int, samples_per_s: float) -> dict[str, Any]:
        """Average the losses since the last record over steps and ranks; rank 0 writes it."""
        keys = sorted(self._sums)
        means = {}
        if keys:
            stacked = self._reduce_mean(torch.stack([self._sums[k] for k in keys]))
            means = {
                k: float(v) / self._counts[k] for k, v in zip(keys, stacked.tolist(), strict=True)
            }
        record = {
            "step": self.step,
            "epoch": epoch,
            "time": round(self._elapsed, 3),
            "lr": self.learning_rate(self.step - 1),
            "bad_steps": self.bad_steps,
            "bad_disc_steps": self.bad_disc_steps,
            "samples_per_s": round(samples_per_s, 2),
            **means,
        }
        self._sums, self._counts = {}, {}
        self.history.append(record)  # every rank holds the (globally averaged) records
        if self.ctx.is_main:
            with open(self.metrics_path, "a") as f:
                f.write(json.dumps(record) + "\n")
            if self._writer is not None:
                for k, v in record.items():
                    if k != "step":
                        self._writer.add_scalar(f"train/{k}", v, self.step)
        return record
