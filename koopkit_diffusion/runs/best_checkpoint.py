"""FID measured during training, every N training images, keeping the best EMA weights.

The authors' trainer (Berman et al. 2025) scores its one-step generator periodically and keeps
the best checkpoint; EDM's users do the same with ``fid.py`` on snapshots. :class:`FIDTracker` is
a sample callback of :class:`~koopkit_diffusion.trainer.loop.Trainer` (it never touches the
trainer's internals): at the first call after every ``every_images`` training images (and at the
last step) it draws ``n`` samples from the EMA model with its ``sample_batches`` — one step for a
student, the teacher's own sampler for a teacher; classes uniform at random for a conditional
model, as the authors and EDM's ``generate.py`` draw them — measures FID (and the Inception
Score) with the local Inception weights, appends a record to ``run_dir/fid.jsonl`` and, when the
FID is the lowest so far, writes the EMA weights to ``run_dir/best.pt`` and the record to
``run_dir/best.json``.

``best.pt`` is written by the trainer's own writer
(:func:`~koopkit_diffusion.trainer.write_checkpoint`, with its checksum file) in its layout
(``step``, ``model`` and ``ema`` state dicts, both the averaged weights), so
``load_teacher(run, checkpoint=run / "best.pt")`` and
``load_generator(run, checkpoint=run / "best.pt")`` read it. On resume, records written after the
checkpoint by the interrupted run are dropped at the first call; when the best of them lay past
it, ``best.pt`` and ``best.json`` are removed and found again by the resumed run, which repeats the
interrupted one exactly.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch import nn

from koopkit.io import atomic_write, write_json
from koopkit_diffusion.evaluation.image_scores import image_scores
from koopkit_diffusion.evaluation.inception import load_inception
from koopkit_diffusion.trainer import write_checkpoint
from koopkit_diffusion.trainer.checkpoints import checksum_file, weights_state

__all__ = ["BEST_CHECKPOINT", "FID_RECORDS", "FIDTracker"]

logger = logging.getLogger(__name__)

BEST_CHECKPOINT, BEST_RECORD, FID_RECORDS = "best.pt", "best.json", "fid.jsonl"


class FIDTracker:
    """Sample callback ``(model_ema, step, run_dir)`` measuring FID every ``every_images`` images.

    Parameters
    ----------
    ref_stats : path-like
        Reference statistics (``.npz`` with ``mu``, ``sigma``; see ``koopkit-diffusion fid-stats``).
    inception_weights : path-like
        ``pt_inception-2015-12-05-6726825d.pth``.
    every_images : int
        Training images between measurements.
    batch_size : int
        Global training batch (images per step).
    steps : int
        The run's last step (always measured).
    n : int, default 10000
        Samples per measurement (50k for the numbers papers report; fewer is biased upwards).
    n_steps : int, default 18
        Steps of the teacher's sampler when the model is a teacher.
    seed : int, default 0
        The same noises at every measurement.
    sample_batch : int, default 500
    inner : callable, optional
        Another sample callback run first (the sample figures).
    """

    def __init__(
        self,
        ref_stats: str | os.PathLike,
        inception_weights: str | os.PathLike,
        every_images: int,
        batch_size: int,
        steps: int,
        *,
        n: int = 10_000,
        n_steps: int = 18,
        seed: int = 0,
        sample_batch: int = 500,
        inner: Callable[[nn.Module, int, Path], Any] | None = None,
    ) -> None:
        sizes = {"every_images": every_images, "batch_size": batch_size, "steps": steps, "n": n,
                 "sample_batch": sample_batch}  # fmt: skip
        for name, value in sizes.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if n < 2:
            raise ValueError(f"n must be at least 2 samples, got {n}")
        for path in (ref_stats, inception_weights):
            if not Path(path).is_file():
                raise FileNotFoundError(f"{path} not found (FID during training needs it)")
        self.ref_stats, self.inception_weights = Path(ref_stats), Path(inception_weights)
        self.every_images, self.batch_size, self.steps = every_images, batch_size, steps
        self.n, self.n_steps, self.seed, self.sample_batch = n, n_steps, seed, sample_batch
        self.inner = inner
        self._inception = None
        self._last_bucket: int | None = None
        self._best = math.inf

    @property
    def sample_every(self) -> int:
        """Steps between measurements (what ``train.sample_every`` must not exceed)."""
        return max(1, self.every_images // self.batch_size)

    def __call__(self, model: nn.Module, step: int, run_dir: Path) -> None:
        """Measure when due; called by the trainer on rank 0 under ``torch.no_grad``."""
        if self.inner is not None:
            self.inner(model, step, run_dir)
        run_dir = Path(run_dir)
        if self._last_bucket is None:
            self._restore(run_dir, step)
        bucket = step * self.batch_size // self.every_images
        if bucket <= self._last_bucket and step != self.steps:
            return
        self._last_bucket = bucket
        record = self._measure(model, step)
        with open(run_dir / FID_RECORDS, "a") as f:
            f.write(json.dumps(record) + "\n")
        logger.info("step %d: FID %.3f on %d samples", step, record["fid"], record["n"])
        if record["fid"] < self._best:
            self._best = record["fid"]
            self._save_best(model, record, run_dir)

    def _restore(self, run_dir: Path, step: int) -> None:
        """Drop records of an interrupted run past ``step``; recover the best and the cadence."""
        path = run_dir / FID_RECORDS
        records = []
        if path.is_file():
            records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        kept = [r for r in records if r["step"] < step]
        if len(kept) != len(records):
            with atomic_write(path, "w") as f:
                f.writelines(json.dumps(r) + "\n" for r in kept)
        best_path = run_dir / BEST_RECORD
        if best_path.is_file() and json.loads(best_path.read_text())["step"] >= step:
            for stale in (run_dir / BEST_CHECKPOINT, checksum_file(run_dir / BEST_CHECKPOINT)):
                stale.unlink(missing_ok=True)
            best_path.unlink()
            logger.info("the best FID lay past the resumed checkpoint; it will be measured again")
        self._best = json.loads(best_path.read_text())["fid"] if best_path.is_file() else math.inf
        self._last_bucket = kept[-1]["step"] * self.batch_size // self.every_images if kept else 0

    def _samples(self, model: nn.Module) -> Any:
        """The model's samples in batches: a student's one step or a teacher's own sampler."""
        extra = {"n_steps": self.n_steps} if hasattr(model, "integrate") else {}
        batches = model.sample_batches(
            self.n, seed=self.seed, batch_size=self.sample_batch, **extra
        )
        return (x for x, _ in batches)

    def _measure(self, model: nn.Module, step: int) -> dict[str, Any]:
        device = next(model.parameters()).device
        if self._inception is None:
            self._inception = load_inception(self.inception_weights, device=device)
        t0 = time.perf_counter()
        scores = image_scores(
            self._samples(model), self._inception, ref_stats=self.ref_stats, progress=False
        )
        return {
            "step": step,
            "images": step * self.batch_size,
            "fid": scores["fid"],
            "inception_score": scores["inception_score"],
            "n": scores["n"],
            "seconds": round(time.perf_counter() - t0, 2),
        }

    def _save_best(self, model: nn.Module, record: dict[str, Any], run_dir: Path) -> None:
        # The averaged weights as both model and EMA: a best checkpoint is for sampling.
        write_checkpoint(
            run_dir / BEST_CHECKPOINT, weights_state(model.state_dict(), record["step"])
        )
        write_json({**record, "checkpoint": BEST_CHECKPOINT}, run_dir / BEST_RECORD)
