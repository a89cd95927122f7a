"""Checkpoint state of a :class:`~koopkit_diffusion.trainer.loop.Trainer` and exact resume."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .checkpoints import CHECKPOINT_FORMAT, read_checkpoint, resolve_checkpoint
from .distributed import gather_rng_states, seed_process, set_rng_state

__all__ = ["ResumableMixin"]

logger = logging.getLogger(__name__)


class ResumableMixin:
    """What a checkpoint holds, writing it, and restoring a trainer from it.

    Mixed into :class:`~koopkit_diffusion.trainer.loop.Trainer`, whose attributes it reads.
    """

    def _checkpoint_to_resume(
        self, resume: bool | str | os.PathLike
    ) -> tuple[Path, dict[str, Any]] | None:
        """The checkpoint to continue from and its state: with ``True`` or ``"auto"`` the newest
        intact one (corrupt newer ones are named and skipped), with a path exactly that file."""
        existing = self.checkpoints.latest()
        if resume is False:
            if existing is not None:
                raise FileExistsError(
                    f"{self.run_dir} already holds checkpoints ({existing.name}); pass "
                    "resume=True to continue that run or choose a new run directory"
                )
            return None
        if resume in (True, "auto"):
            found = self.checkpoints.newest_intact(map_location=self.ctx.device)
            if found is None and resume is True:
                resolve_checkpoint(self.run_dir, "latest")  # raises, naming the folder
            self._fell_back = found is not None and found[0] != existing
            return found
        path = resolve_checkpoint(self.run_dir, resume)
        return path, read_checkpoint(path, map_location=self.ctx.device)

    def state_dict(self) -> dict[str, Any]:
        """Everything a checkpoint holds (collective under DDP: every rank must call it)."""
        rng = gather_rng_states(self.ctx)
        sums = {k: self._reduce_mean(v).cpu() for k, v in self._sums.items()}
        state = {
            "format": CHECKPOINT_FORMAT,
            "step": self.step,
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "bad_steps": self.bad_steps,
            "bad_disc_steps": self.bad_disc_steps,
            "consecutive_bad_steps": self._consecutive_bad,
            "elapsed": self._elapsed,
            "rng": rng,
            "world_size": self.ctx.world_size,
            "dataset_len": len(self.dataset),
            "log_sums": sums,
            "log_counts": dict(self._counts),
            "config": self.config.to_dict(),
        }
        if self.disc_optimizer is not None:
            state["disc_optimizer"] = self.disc_optimizer.state_dict()
        return state

    def save(self) -> Path:
        """Write a checkpoint of the current step (rank 0 writes; all ranks must call)."""
        state = self.state_dict()
        path = self.checkpoints.path(self.step)
        if self.ctx.is_main:
            path = self.checkpoints.save(state, self.step)
            logger.info("checkpoint %s", path)
        self.ctx.barrier()
        self.last_checkpoint = path
        return path

    def _load(self, path: Path, state: dict[str, Any]) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path} is not a trainer checkpoint of format {CHECKPOINT_FORMAT}")
        saved = state["config"]
        for name in ("batch_size", "seed"):
            if saved[name] != getattr(self.config, name):
                raise ValueError(
                    f"cannot resume exactly with {name}={getattr(self.config, name)!r}: the "
                    f"checkpoint was trained with {name}={saved[name]!r} (the data order depends "
                    "on it)"
                )
        if state["dataset_len"] != len(self.dataset):
            raise ValueError(
                f"the checkpoint was trained on {state['dataset_len']} items, the dataset has "
                f"{len(self.dataset)}; resume needs the same dataset"
            )
        if ("disc_optimizer" in state) != (self.disc_optimizer is not None):
            raise ValueError(f"{path}: the model's discriminator does not match the checkpoint")
        try:
            self.model.load_state_dict(state["model"])
            self.ema.load_state_dict(state["ema"])
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise ValueError(
                f"{path} does not fit this model ({first} ...): resume needs the architecture "
                "the checkpoint was trained with"
            ) from err
        self.optimizer.load_state_dict(state["optimizer"])
        if self.disc_optimizer is not None:
            self.disc_optimizer.load_state_dict(state["disc_optimizer"])
        self.step = int(state["step"])
        self.bad_steps, self.bad_disc_steps = int(state["bad_steps"]), int(state["bad_disc_steps"])
        self._consecutive_bad = int(state["consecutive_bad_steps"])
        self._elapsed = float(state["elapsed"])
        self._sums = {k: v.to(self.ctx.device) for k, v in state["log_sums"].items()}
        self._counts = {k: int(v) for k, v in state["log_counts"].items()}
        rng = state["rng"]
        if self.ctx.rank < len(rng):
            set_rng_state(rng[self.ctx.rank], self.ctx.device)
        else:  # more processes than when the checkpoint was written: fresh streams
            seed_process(self.config.seed + self.step, self.ctx.rank)
        self.last_checkpoint = path
        if self.ctx.is_main:
            logger.info("resuming %s from step %d", self.run_dir, self.step)
