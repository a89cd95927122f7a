"""The trainer's typed configuration."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from koopkit.config import ConfigMixin

__all__ = ["TrainerConfig", "scheduled_lr"]

_AMP = ("none", "bf16")
LR_DECAYS = ("none", "cosine", "linear")
_DEVICES = ("auto", "cpu", "cuda")


@dataclass
class TrainerConfig(ConfigMixin):
    """Hyper-parameters of :class:`~koopkit_diffusion.trainer.loop.Trainer`.

    Defaults follow the KDM paper's CIFAR-10 setting where it states one (Adam, lr 3e-4,
    EMA 0.9999, batch 128; Berman et al. 2025, Sec. 5).

    Parameters
    ----------
    steps : int, default 10_000
        Total number of optimizer steps (global, whatever the number of processes).
    batch_size : int, default 128
        Global batch size; under DDP each of the ``world_size`` processes takes
        ``batch_size // world_size`` samples (must divide evenly).
    lr : float, default 3e-4
        Adam learning rate of the generator.
    betas : tuple of float, default (0.9, 0.999)
        Adam betas of the generator.
    weight_decay : float, default 0.0
        L2 weight decay (Adam's ``weight_decay``) of the generator.
    lr_warmup_steps : int, default 0
        Linear learning-rate ramp from ``lr / lr_warmup_steps`` to ``lr`` over this many steps.
    lr_decay : {"none", "cosine", "linear"}, default "none"
        Decay of the generator's learning rate after the warm-up, reaching
        ``lr_final_ratio · lr`` at the last step. Ending on a small learning rate removes the
        shrinkage that an EMA of weights still jumping at a constant rate shows (an average of
        ReLU networks is not the network of the average; measured in the KDM guide).
    lr_final_ratio : float, default 0.0
        Learning rate at the last step, as a fraction of ``lr`` (with ``lr_decay``).
    disc_lr : float or None, default None
        Adam learning rate of the discriminator, if the model has one; ``None`` uses ``lr``.
    disc_betas : tuple of float, default (0.0, 0.99)
        Adam betas of the discriminator.
    disc_first : bool, default False
        Step the discriminator before the generator, so that the generator's adversarial term
        sees the updated discriminator (the KDM authors' order); by default it steps after, on
        the generator's samples of the same step.
    grad_clip : float or None, default 1.0
        Maximum global gradient norm; ``None`` disables clipping (the norm is still checked
        for NaN/Inf).
    ema_decay : float, default 0.9999
        Decay of the exponential moving average of the weights.
    ema_warmup : bool, default False
        Use the warm-up schedule ``min(decay, (1 + n) / (10 + n))`` of
        :class:`koopkit.training.EMA`.
    max_consecutive_bad_steps : int, default 100
        Steps whose loss or gradient is NaN/Inf are skipped and counted; this many in a row
        abort training with ``FloatingPointError``. A run shorter than that which skipped most
        of its steps also ends with ``FloatingPointError`` (after its last checkpoint).
    amp : {"none", "bf16"}, default "none"
        Mixed precision: ``"bf16"`` runs the losses under ``torch.autocast`` with bfloat16 on
        CUDA (on CPU it is ignored with a warning).
    compile : bool, default False
        Wrap the loss computation in :func:`torch.compile`.
    channels_last : bool, default False
        Channels-last memory format for the model and for 4-D batch tensors.
    cudnn_benchmark : bool or None, default None
        On CUDA, the value ``torch.backends.cudnn.benchmark`` is set to: ``True`` lets cuDNN
        time its convolution algorithms once per input shape and keep the fastest (the shapes of
        a training run are fixed), at the cost of an algorithm choice that may differ between
        runs; ``None`` leaves the setting as it is. Ignored on CPU.
    num_workers : int, default 0
        DataLoader worker processes.
    seed : int, default 0
        Seed of the data order (a pure function of ``(seed, epoch)``) and of the training RNG.
    log_every : int, default 100
        Steps between ``metrics.jsonl`` records (losses are averaged over the interval).
    checkpoint_every : int, default 1000
        Steps between checkpoints; a checkpoint is always written at the end.
    keep_last : int or None, default 3
        Number of checkpoints kept; ``None`` keeps all.
    sample_every : int, default 0
        Steps between calls of the ``on_sample`` callback (and one at the end); 0 disables.
    graceful_stop : bool, default True
        While :meth:`Trainer.train` runs, the first SIGTERM or SIGINT waits for the current step
        and a checkpoint, then takes its usual effect (``SystemExit`` / ``KeyboardInterrupt``).
    loss_figure : bool, default True
        Write the loss curves to ``run_dir/metrics.png`` when :meth:`Trainer.train` returns.
    tensorboard : bool, default False
        Also write scalars to ``run_dir/tensorboard`` (needs the ``tensorboard`` package).
    progress : bool, default True
        Show a tqdm progress bar (rank 0 only).
    device : {"auto", "cpu", "cuda"}, default "auto"
        ``"auto"`` picks CUDA when available. Under ``torchrun`` with CUDA each process uses
        ``cuda:LOCAL_RANK``.
    find_unused_parameters : bool, default False
        Passed to :class:`~torch.nn.parallel.DistributedDataParallel` (set it when some
        generator parameters take no part in a step's loss).
    """

    steps: int = 10_000
    batch_size: int = 128
    lr: float = 3e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_warmup_steps: int = 0
    lr_decay: str = "none"
    lr_final_ratio: float = 0.0
    disc_lr: float | None = None
    disc_betas: tuple[float, float] = (0.0, 0.99)
    disc_first: bool = False
    grad_clip: float | None = 1.0
    ema_decay: float = 0.9999
    ema_warmup: bool = False
    max_consecutive_bad_steps: int = 100
    amp: str = "none"
    compile: bool = False
    channels_last: bool = False
    cudnn_benchmark: bool | None = None
    num_workers: int = 0
    seed: int = 0
    log_every: int = 100
    checkpoint_every: int = 1000
    keep_last: int | None = 3
    sample_every: int = 0
    graceful_stop: bool = True
    loss_figure: bool = True
    tensorboard: bool = False
    progress: bool = True
    device: str = "auto"
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        self.betas = tuple(float(b) for b in self.betas)  # JSON gives lists
        self.disc_betas = tuple(float(b) for b in self.disc_betas)
        _positive_int("steps", self.steps)
        _positive_int("batch_size", self.batch_size)
        _positive_int("log_every", self.log_every)
        _positive_int("checkpoint_every", self.checkpoint_every)
        _positive_int("max_consecutive_bad_steps", self.max_consecutive_bad_steps)
        for name in ("lr_warmup_steps", "num_workers", "sample_every", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        for name in ("lr", "disc_lr"):
            value = getattr(self, name)
            if value is not None and not _finite(value, minimum=0.0, strict=True):
                raise ValueError(f"{name} must be a positive finite float, got {value!r}")
        for name in ("betas", "disc_betas"):
            value = getattr(self, name)
            if len(value) != 2 or not all(0.0 <= b < 1.0 for b in value):
                raise ValueError(f"{name} must be two floats in [0, 1), got {value!r}")
        if self.lr_decay not in LR_DECAYS:
            raise ValueError(f"lr_decay must be one of {LR_DECAYS}, got {self.lr_decay!r}")
        if not 0.0 <= self.lr_final_ratio <= 1.0:
            raise ValueError(f"lr_final_ratio must be in [0, 1], got {self.lr_final_ratio!r}")
        if not _finite(self.weight_decay, minimum=0.0):
            raise ValueError(f"weight_decay must be a finite float >= 0, got {self.weight_decay!r}")
        if self.grad_clip is not None and not _finite(self.grad_clip, minimum=0.0, strict=True):
            raise ValueError(
                f"grad_clip must be a positive finite float or None (no clipping), got "
                f"{self.grad_clip!r}"
            )
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1), got {self.ema_decay!r}")
        if self.keep_last is not None:
            _positive_int("keep_last", self.keep_last)
        if self.cudnn_benchmark is not None and not isinstance(self.cudnn_benchmark, bool):
            raise ValueError(
                f"cudnn_benchmark must be True, False or None, got {self.cudnn_benchmark!r}"
            )
        if self.amp not in _AMP:
            raise ValueError(f"amp must be one of {_AMP}, got {self.amp!r}")
        if self.device not in _DEVICES:
            raise ValueError(f"device must be one of {_DEVICES}, got {self.device!r}")


def _finite(value: Any, minimum: float, strict: bool = False) -> bool:
    """A real number, finite, ``>= minimum`` (``> minimum`` when ``strict``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and (value > minimum if strict else value >= minimum)


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def scheduled_lr(config: TrainerConfig, step: int) -> float:
    """The generator's learning rate at step ``step`` (0-based) under ``config``.

    A linear warm-up over ``lr_warmup_steps``, then constant (``lr_decay="none"``) or a cosine
    or linear decay that reaches ``lr_final_ratio · lr`` at the last step, ``steps − 1``.

    Parameters
    ----------
    config : TrainerConfig
    step : int

    Returns
    -------
    float
    """
    warmup = config.lr_warmup_steps
    if warmup and step < warmup:
        return config.lr * (step + 1) / warmup
    if config.lr_decay == "none":
        return config.lr
    span = config.steps - 1 - warmup
    progress = min(1.0, (step - warmup) / span) if span > 0 else 1.0
    if config.lr_decay == "cosine":
        factor = 0.5 * (1.0 + math.cos(math.pi * progress))
    else:
        factor = 1.0 - progress
    return config.lr * (config.lr_final_ratio + (1.0 - config.lr_final_ratio) * factor)
