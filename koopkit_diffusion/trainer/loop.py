"""The training loop: :class:`Trainer`, :class:`TrainResult` and :func:`train`."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from koopkit.training import EMA

from .checkpoints import (
    CHECKPOINT_FORMAT,
    CheckpointManager,
    read_checkpoint,
    resolve_checkpoint,
    truncate_metrics,
)
from .config import TrainerConfig, scheduled_lr
from .data import ShardedBatchSampler, batch_to_device, make_loader
from .distributed import (
    broadcast_module,
    gather_rng_states,
    seed_process,
    set_rng_state,
    setup_distributed,
)
from .parallel import total_loss, wrap_step_functions
from .plots import plot_metrics, read_metrics
from .signals import StopOnSignal

__all__ = ["Trainer", "TrainResult", "train"]

logger = logging.getLogger(__name__)

SampleCallback = Callable[[nn.Module, int, Path], Any]


@dataclass
class TrainResult:
    """What :meth:`Trainer.train` returns.

    Attributes
    ----------
    model : torch.nn.Module
        The trained model (the caller's object, on the training device).
    ema : torch.nn.Module
        A copy of the model holding the exponential moving average of its weights; use it
        for sampling.
    history : list of dict
        The ``metrics.jsonl`` records of the run so far (resumed runs include earlier records).
    step : int
        Global step reached.
    bad_steps : int
        Generator steps skipped because the loss or gradient was NaN/Inf.
    bad_disc_steps : int
        Discriminator steps skipped for the same reason.
    run_dir : pathlib.Path
        The run directory.
    checkpoint : pathlib.Path
        The last checkpoint written.
    """

    model: nn.Module
    ema: nn.Module
    history: list[dict[str, Any]]
    step: int
    bad_steps: int
    bad_disc_steps: int
    run_dir: Path
    checkpoint: Path


class Trainer:
    """Train a model that implements ``losses(batch) -> dict`` (see the package docstring).

    Adam with optional linear warm-up, EMA of the weights, gradient clipping, a NaN/Inf guard
    that skips and counts bad steps, bf16 autocast on CUDA, optional :func:`torch.compile` and
    channels-last, a DataLoader with workers, DistributedDataParallel under ``torchrun``,
    atomic checkpoints with keep-last-K, exact resume and ``metrics.jsonl``.

    Parameters
    ----------
    model : torch.nn.Module
        Implements ``losses(batch)``; optionally ``discriminator`` (an ``nn.Module``) and
        ``discriminator_loss(batch)``. Moved to the training device in place.
    dataset : map-style dataset of dicts
        ``len(dataset)`` items; ``get_batch(indices)`` is used when present.
    config : TrainerConfig
        Hyper-parameters.
    run_dir : str or os.PathLike
        Run directory (created); see the package docstring for its layout.
    on_sample : callable, optional
        ``on_sample(model_ema, step, run_dir)``, called on rank 0 every ``sample_every`` steps
        and at the end, under ``torch.no_grad`` with the RNG states restored afterwards (so it
        does not change training).
    resume : bool, "auto" or path, default False
        ``True``: continue from the run's latest checkpoint (``FileNotFoundError`` if none);
        ``"auto"``: continue if there is one, else start; a path: continue from that file.
        ``False`` refuses a run directory that already holds checkpoints (``FileExistsError``).

    Notes
    -----
    Construction seeds the global torch, NumPy and Python generators from ``(seed, rank)``
    (build the model before it, with your own seed); under DDP rank 0's initial weights are
    copied to every process before the EMA copy is taken. ``train`` uses and checkpoints those
    generators, which is what makes resume exact.
    """

    def __init__(
        self,
        model: nn.Module,
        dataset: Any,
        config: TrainerConfig,
        run_dir: str | os.PathLike,
        *,
        on_sample: SampleCallback | None = None,
        resume: bool | str | os.PathLike = False,
    ) -> None:
        if not isinstance(model, nn.Module) or not callable(getattr(model, "losses", None)):
            raise ValueError("model must be an nn.Module with a losses(batch) -> dict method")
        if not isinstance(config, TrainerConfig):
            raise ValueError(f"config must be a TrainerConfig, got {type(config).__name__}")
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise ValueError("dataset must be a map-style dataset (with __len__ and __getitem__)")
        if on_sample is not None and not callable(on_sample):
            raise ValueError("on_sample must be callable(model_ema, step, run_dir) or None")
        self.config, self.dataset, self.on_sample = config, dataset, on_sample
        self.run_dir = Path(run_dir)
        self.ctx = setup_distributed(config.device)
        try:
            self._setup(model, config, resume)
        except BaseException:
            self.ctx.close()  # do not leave a process group behind a failed construction
            raise

    def _setup(
        self,
        model: nn.Module,
        config: TrainerConfig,
        resume: bool | str | os.PathLike,
    ) -> None:
        if config.tensorboard:
            self._summary_writer_class()
        device = self.ctx.device
        self.use_amp = config.amp == "bf16" and device.type == "cuda"
        if config.amp == "bf16" and not self.use_amp:
            logger.warning("amp='bf16' is used on CUDA only; training on %s in float32", device)

        if device.type == "cuda" and config.cudnn_benchmark is not None:
            torch.backends.cudnn.benchmark = config.cudnn_benchmark
        self.model = model.to(device)
        if config.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model.train()
        broadcast_module(self.model, self.ctx)
        disc = getattr(model, "discriminator", None)
        self.has_disc = isinstance(disc, nn.Module)
        if self.has_disc and not callable(getattr(model, "discriminator_loss", None)):
            raise ValueError("a model with a discriminator must define discriminator_loss(batch)")
        disc_ids = {id(p) for p in disc.parameters()} if self.has_disc else set()
        self.gen_params = [
            p for p in model.parameters() if p.requires_grad and id(p) not in disc_ids
        ]
        if not self.gen_params:
            raise ValueError("model has no trainable generator parameters")
        fused = device.type == "cuda"
        self.optimizer = torch.optim.Adam(
            self.gen_params, lr=config.lr, betas=config.betas,
            weight_decay=config.weight_decay, fused=fused,
        )  # fmt: skip
        self.disc_params = (
            [p for p in disc.parameters() if p.requires_grad] if self.has_disc else []
        )
        self.disc_optimizer = (
            torch.optim.Adam(
                self.disc_params,
                lr=config.disc_lr or config.lr,
                betas=config.disc_betas,
                fused=fused,
            )  # fmt: skip
            if self.disc_params
            else None
        )
        self.ema = EMA(model, decay=config.ema_decay, warmup=config.ema_warmup)
        self.step = self.bad_steps = self.bad_disc_steps = self._consecutive_bad = 0
        self._elapsed = 0.0
        self._t_last = self._t_log = 0.0  # wall clock of the last step and of the last record
        self._steps_since_log = 0
        self._sums: dict[str, torch.Tensor] = {}  # per-key loss sums since the last log record
        self._counts: dict[str, int] = {}
        self.checkpoints = CheckpointManager(self.run_dir, config.keep_last)
        self.last_checkpoint: Path | None = None
        self.metrics_path = self.run_dir / "metrics.jsonl"
        self.history: list[dict[str, Any]] = []
        self._fell_back = False  # resumed from an older checkpoint than the newest file

        seed_process(config.seed, self.ctx.rank)
        found = self._checkpoint_to_resume(resume)
        path = None
        if found is not None:
            path = found[0]
            self._load(*found)
        if self.ctx.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            self.checkpoints.remove_litter()
            self.history = truncate_metrics(self.metrics_path, self.step) if path else []
            if not path:
                self.metrics_path.unlink(missing_ok=True)
        self._writer = self._tensorboard() if config.tensorboard else None
        self.ctx.barrier()
        if self._fell_back and self.ctx.is_main:  # every rank has read its checkpoint by now
            self.checkpoints.set_aside(newer_than=self.step)
        if path and not self.ctx.is_main and self.metrics_path.is_file():
            self.history = read_metrics(self.run_dir)  # rank 0 has truncated it to our step
        self._gen_fn, self._disc_fn = wrap_step_functions(
            self.model, self.ctx, self.disc_optimizer is not None, config
        )

    # ------------------------------------------------------- checkpoints and resume
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

    # ------------------------------------------------------------------- records
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

    # ------------------------------------------------------------------ steps
    def _reduce_mean(self, value: torch.Tensor) -> torch.Tensor:
        if not self.ctx.distributed:
            return value
        value = value.clone()
        dist.all_reduce(value)
        return value / self.ctx.world_size

    def _all_ranks_finite(self, *values: torch.Tensor) -> bool:
        finite = torch.stack([torch.isfinite(v.detach().float()).all() for v in values]).all()
        if self.ctx.distributed:  # one rank's overflow must skip the step everywhere
            flag = finite.to(torch.int32)
            dist.all_reduce(flag, op=dist.ReduceOp.MIN)
            finite = flag.bool()
        return bool(finite)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.use_amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def learning_rate(self, step: int) -> float:
        """Learning rate of step ``step`` (0-based); see :func:`scheduled_lr`."""
        return scheduled_lr(self.config, step)

    def _clip(self, params: list[torch.Tensor]) -> torch.Tensor:
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else math.inf
        return torch.nn.utils.clip_grad_norm_(params, max_norm, foreach=True)

    def train_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor] | None:
        """One optimizer step of the generator (and of the discriminator); advances ``step``.

        :meth:`train` calls it once per batch; benchmarks call it directly. It neither logs nor
        checkpoints.

        Parameters
        ----------
        batch : dict
            A batch already on the training device (see ``data.batch_to_device``).

        Returns
        -------
        dict of str to Tensor or None
            The detached losses (discriminator's prefixed ``disc_``), or ``None`` when the
            NaN/Inf guard skipped the generator step.
        """
        lr = self.learning_rate(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        disc_logged = self._disc_step(batch) if self.config.disc_first else {}
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            losses = self._gen_fn(batch)
        total = total_loss(losses, "model.losses(batch)")
        total.backward()
        norm = self._clip(self.gen_params)
        logged = {k: v.detach().float() for k, v in losses.items()}
        ok = self._all_ranks_finite(total, norm)
        if ok:
            self.optimizer.step()
            self.ema.update(self.model)
            self._consecutive_bad = 0
        else:
            self.optimizer.zero_grad(set_to_none=True)
            self.bad_steps += 1
            self._consecutive_bad += 1
            if self._consecutive_bad >= self.config.max_consecutive_bad_steps:
                raise FloatingPointError(
                    f"{self._consecutive_bad} consecutive steps with NaN/Inf loss or gradient "
                    f"(step {self.step}); lower the learning rate or check the data"
                )
        logged.update(disc_logged if self.config.disc_first else self._disc_step(batch))
        self.step += 1
        return logged if ok else None

    def _disc_step(self, batch: dict[str, Any]) -> dict[str, torch.Tensor]:
        """One discriminator step (none without one); its detached losses, prefixed ``disc_``."""
        if self.disc_optimizer is None:
            return {}
        self.disc_optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            d_losses = self._disc_fn(batch)
        d_total = total_loss(d_losses, "model.discriminator_loss(batch)")
        d_total.backward()
        d_norm = self._clip(self.disc_params)
        if not self._all_ranks_finite(d_total, d_norm):
            self.disc_optimizer.zero_grad(set_to_none=True)
            self.bad_disc_steps += 1
            return {}
        self.disc_optimizer.step()
        items = d_losses.items() if isinstance(d_losses, Mapping) else [("total", d_total)]
        return {f"disc_{k}": v.detach().float() for k, v in items}

    # ------------------------------------------------------------------- loop
    def train(self, stop_at: int | None = None) -> TrainResult:
        """Train until ``config.steps`` (or until global step ``stop_at``, with a checkpoint there).

        Parameters
        ----------
        stop_at : int, optional
            Stop early at this global step, as a graceful interruption would; continue later
            with ``resume=True``.

        Raises
        ------
        KeyboardInterrupt, SystemExit
            With ``config.graceful_stop``, after a SIGINT or SIGTERM, once the current step is
            done and checkpointed (see :mod:`koopkit_diffusion.trainer.signals`).
        FloatingPointError
            After ``config.max_consecutive_bad_steps`` NaN/Inf steps in a row, or, once the
            last checkpoint is written, when most of the run's steps were skipped as NaN/Inf
            (whatever its length: a run of 50 steps at ``lr=1e30`` fails too).

        Returns
        -------
        TrainResult
        """
        cfg = self.config
        if self._gen_fn is None:
            raise RuntimeError(
                "this Trainer was closed (it left its process group); make a new one"
            )
        target = cfg.steps if stop_at is None else stop_at
        if not self.step <= target <= cfg.steps:
            raise ValueError(f"stop_at must lie in [{self.step}, {cfg.steps}], got {stop_at}")
        sampler = ShardedBatchSampler(
            len(self.dataset), cfg.batch_size, cfg.seed, self.ctx.rank, self.ctx.world_size,
            start_step=self.step,
        )  # fmt: skip
        loader = make_loader(
            self.dataset, sampler, cfg.num_workers, self.ctx.device.type == "cuda", cfg.seed
        )
        show = cfg.progress and self.ctx.is_main
        bar = tqdm(
            total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True, disable=not show,
        )  # fmt: skip
        batches = iter(loader)
        self._t_last = self._t_log = time.perf_counter()
        self._steps_since_log = 0
        start_step = self.step
        stopped_by = 0
        # Log lines go through tqdm.write while the bar is open, so they do not break it.
        redirect = logging_redirect_tqdm() if show else contextlib.nullcontext()
        with StopOnSignal(cfg.graceful_stop) as stop, redirect:
            try:
                while self.step < target:
                    batch = batch_to_device(next(batches), self.ctx.device, cfg.channels_last)
                    self._after_step(self.train_step(batch), sampler, bar)
                    stopped_by = stop.agreed(self.ctx)
                    if stopped_by:
                        logger.warning("signal %d: checkpoint at step %d, stopping", stopped_by,
                                       self.step)  # fmt: skip
                        break
                if self.last_checkpoint != self.checkpoints.path(self.step):
                    self.save()
            finally:
                bar.close()
                del batches  # shuts worker processes down
        if stopped_by:
            StopOnSignal.raise_for(stopped_by)
        if self.step > start_step and 2 * self.bad_steps > self.step:
            raise FloatingPointError(
                f"{self.bad_steps} of the {self.step} steps of this run were skipped as NaN/Inf "
                f"(loss or gradient): the weights in {self.run_dir} are not trained; lower the "
                "learning rate or check the data"
            )
        if cfg.loss_figure and self.ctx.is_main and self.history:
            plot_metrics(self.history, self.run_dir / "metrics.png")
        return TrainResult(
            model=self.model,
            ema=self.ema.module,
            history=list(self.history),
            step=self.step,
            bad_steps=self.bad_steps,
            bad_disc_steps=self.bad_disc_steps,
            run_dir=self.run_dir,
            checkpoint=self.last_checkpoint,
        )

    def _after_step(
        self, logged: dict[str, torch.Tensor] | None, sampler: ShardedBatchSampler, bar: Any
    ) -> None:
        """Accumulate the losses; log, sample and checkpoint when their cadence comes."""
        cfg = self.config
        self._steps_since_log += 1
        for k, v in (logged or {}).items():
            self._sums[k] = self._sums.get(k, torch.zeros_like(v)) + v
            self._counts[k] = self._counts.get(k, 0) + 1
        now = time.perf_counter()
        self._elapsed += now - self._t_last
        self._t_last = now
        bar.update(1)
        if self.step % cfg.log_every == 0 or self.step == cfg.steps:
            rate = self._steps_since_log * cfg.batch_size / max(now - self._t_log, 1e-9)
            record = self._log(sampler.position(self.step - 1)[0], rate)
            bar.set_postfix(loss=f"{record.get('total', float('nan')):.4g}", bad=self.bad_steps)
            self._t_log, self._steps_since_log = now, 0
        if cfg.sample_every and (self.step % cfg.sample_every == 0 or self.step == cfg.steps):
            self.sample()
        if self.step % cfg.checkpoint_every == 0:
            self.save()

    def sample(self) -> None:
        """Run ``on_sample(model_ema, step, run_dir)`` on rank 0; the training RNG is kept."""
        if self.on_sample is None or not self.ctx.is_main:
            return
        devices = [self.ctx.device] if self.ctx.device.type == "cuda" else []
        np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002
        with torch.random.fork_rng(devices=devices), torch.no_grad():
            self.on_sample(self.ema.module, self.step, self.run_dir)
        np.random.set_state(np_state)  # noqa: NPY002
        random.setstate(py_state)

    def close(self) -> None:
        """Close the TensorBoard writer and leave a process group this trainer created."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self.ctx.owns_group:
            # DDP's reducers hold the process group: release them before it is destroyed, not at
            # interpreter exit (where gloo's threads have aborted a rank under load)
            self._gen_fn = self._disc_fn = None
            gc.collect()
        self.ctx.close()

    def __enter__(self) -> Trainer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def train(
    model: nn.Module,
    dataset: Any,
    config: TrainerConfig,
    run_dir: str | os.PathLike,
    *,
    on_sample: SampleCallback | None = None,
    resume: bool | str | os.PathLike = False,
) -> TrainResult:
    """Build a :class:`Trainer`, run it to ``config.steps`` and close it.

    Parameters are those of :class:`Trainer`.

    Returns
    -------
    TrainResult
    """
    with Trainer(model, dataset, config, run_dir, on_sample=on_sample, resume=resume) as trainer:
        return trainer.train()
