"""Training utilities shared by the learned models: EMA, atomic checkpoints, seeding.

The small fit loop for Koopman autoencoders lives here too (see :func:`fit`); the
diffusion trainer in ``koopkit_diffusion.trainer`` reuses the utilities.
"""

from __future__ import annotations

import copy
import math
import os
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from koopkit.io import atomic_write

__all__ = ["EMA", "seed_everything", "save_checkpoint", "load_checkpoint", "fit", "FitHistory"]


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
    with atomic_write(path) as f:
        torch.save(dict(state), f)
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


@dataclass
class FitHistory:
    """What :func:`fit` records, one entry per evaluation.

    Attributes
    ----------
    step : list of int
        Optimizer steps done at each evaluation.
    train_loss : list of float
        Mean training loss since the previous evaluation.
    val_loss : list of float
        Validation loss or ``val_fn`` score (of the EMA weights when EMA is on); empty without
        validation.
    lr : list of float
        Learning rate at each evaluation.
    best_step : int
        Step of the lowest validation loss (of the last evaluation without validation data).
    best_val_loss : float
        Lowest validation loss (``nan`` without validation data).
    stopped_early : bool
        Whether early stopping ended the run.
    """

    step: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    best_step: int = 0
    best_val_loss: float = math.nan
    stopped_early: bool = False


def _as_tensor(data: Any, name: str) -> torch.Tensor:
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if not isinstance(data, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor or ndarray with samples along axis 0")
    if data.ndim < 1 or data.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one sample along axis 0, got {data.shape}")
    return data


def _loss_value(out: Any) -> torch.Tensor:
    loss = out["total"] if isinstance(out, Mapping) else out
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        raise ValueError("loss_fn must return a scalar tensor or a dict with a scalar 'total'")
    return loss


@torch.no_grad()
def _evaluate(model, loss_fn, data, batch_size, device, dtype) -> float:
    total, count = 0.0, 0
    for start in range(0, data.shape[0], batch_size):
        batch = data[start : start + batch_size].to(device=device, dtype=dtype)
        total += float(_loss_value(loss_fn(model, batch))) * batch.shape[0]
        count += batch.shape[0]
    return total / count


def fit(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, torch.Tensor], torch.Tensor | Mapping[str, torch.Tensor]],
    train_data: torch.Tensor | np.ndarray,
    val_data: torch.Tensor | np.ndarray | None = None,
    *,
    val_fn: Callable[[nn.Module], float] | None = None,
    epochs: int | None = None,
    steps: int | None = None,
    lr: float = 1e-3,
    batch_size: int = 64,
    weight_decay: float = 0.0,
    schedule: str = "cosine",
    min_lr_ratio: float = 0.0,
    step_size: int | None = None,
    gamma: float = 0.5,
    clip_grad_norm: float | None = None,
    ema_decay: float | None = None,
    eval_every: int | None = None,
    patience: int | None = None,
    min_delta: float = 0.0,
    restore_best: bool = True,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> FitHistory:
    """Train ``model`` with Adam on mini-batches of ``train_data``.

    Each step draws the next mini-batch of a seeded random permutation of ``train_data``
    (a new permutation every epoch), computes ``loss_fn(model, batch)``, clips the gradient norm,
    steps Adam and the learning-rate schedule and, with ``ema_decay``, updates an
    :class:`EMA` of the weights. Every ``eval_every`` steps the mean training loss and the
    validation loss (of the EMA weights when EMA is on) are recorded; with ``patience`` the run
    stops after that many evaluations without an improvement larger than ``min_delta``.

    On return the model holds the evaluated weights (the EMA weights when EMA is on) of the best
    evaluation when ``restore_best`` and a validation (``val_data`` or ``val_fn``) are given,
    else of the last step.

    Parameters
    ----------
    model : torch.nn.Module
        Trained in place, on the device and in the dtype of its parameters (batches are moved
        there).
    loss_fn : callable
        ``loss_fn(model, batch)`` returning a scalar tensor or a dict with a scalar ``"total"``
        (e.g. ``lambda m, b: m.loss(b, horizon=8)`` for a
        :class:`~koopkit.autoencoder.KoopmanAutoencoder`).
    train_data : torch.Tensor or ndarray of shape (n_samples, ...)
        Training samples along axis 0 (e.g. trajectory windows ``(n_windows, T, n)``).
    val_data : torch.Tensor or ndarray of shape (n_val, ...), optional
        Validation samples, scored with ``loss_fn``.
    val_fn : callable, optional
        ``val_fn(model) -> float``, a validation score to minimise instead of ``loss_fn`` on
        ``val_data`` (e.g. the error of a long rollout). Called without gradients on the
        evaluated model in eval mode.
    epochs, steps : int
        Length of the run: exactly one must be given; ``epochs`` means
        ``epochs · ceil(n_samples / batch_size)`` steps.
    lr : float, default 1e-3
        Adam learning rate.
    batch_size : int, default 64
        Mini-batch size (capped at ``n_samples``).
    weight_decay : float, default 0.0
        Adam weight decay.
    schedule : {"cosine", "step", "constant"}, default "cosine"
        Cosine annealing from ``lr`` to ``min_lr_ratio · lr`` over the run; or multiplication by
        ``gamma`` every ``step_size`` steps; or a constant rate.
    min_lr_ratio : float, default 0.0
        Final learning rate of the cosine schedule, relative to ``lr``.
    step_size : int, optional
        Period of the ``"step"`` schedule (default: a third of the run).
    gamma : float, default 0.5
        Factor of the ``"step"`` schedule.
    clip_grad_norm : float, optional
        Maximum global gradient norm.
    ema_decay : float, optional
        Keep an :class:`EMA` of the weights with this decay.
    eval_every : int, optional
        Steps between evaluations (default: one epoch).
    patience : int, optional
        Early stopping after this many evaluations without improvement (needs ``val_data`` or
        ``val_fn``).
    min_delta : float, default 0.0
        Smallest decrease of the validation loss that counts as an improvement.
    restore_best : bool, default True
        Load the best evaluated weights at the end (only with ``val_data`` or ``val_fn``).
    seed : int, default 0
        Seeds Python, NumPy and torch (:func:`seed_everything`) and the batch order.
    checkpoint : str or os.PathLike, optional
        File written atomically at every evaluation with ``model``, ``ema`` (if any),
        ``optimizer``, ``step`` and ``history``; loadable with :func:`load_checkpoint`.
    progress : bool, default True
        Show a tqdm progress bar.

    Returns
    -------
    FitHistory
    """
    from tqdm.auto import tqdm

    train_data = _as_tensor(train_data, "train_data")
    if val_data is not None:
        val_data = _as_tensor(val_data, "val_data")
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs or steps (a positive integer)")
    for name, value in (("epochs", epochs), ("steps", steps), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive finite number, got {lr!r}")
    if schedule not in ("cosine", "step", "constant"):
        raise ValueError(f"schedule must be 'cosine', 'step' or 'constant', got {schedule!r}")
    if val_data is not None and val_fn is not None:
        raise ValueError("give val_data or val_fn, not both")
    validate = val_data is not None or val_fn is not None
    if patience is not None and not validate:
        raise ValueError("patience (early stopping) needs val_data or val_fn")
    if clip_grad_norm is not None and not clip_grad_norm > 0:
        raise ValueError(f"clip_grad_norm must be positive, got {clip_grad_norm!r}")

    n = train_data.shape[0]
    batch_size = min(int(batch_size), n)
    per_epoch = math.ceil(n / batch_size)
    total_steps = int(steps) if steps is not None else int(epochs) * per_epoch
    eval_every = per_epoch if eval_every is None else int(eval_every)
    if eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")

    seed_everything(seed)
    order_gen = torch.Generator().manual_seed(seed)
    ref = next(model.parameters())
    device, dtype = ref.device, ref.dtype
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=total_steps, eta_min=lr * min_lr_ratio
        )
    elif schedule == "step":
        period = step_size if step_size is not None else max(1, total_steps // 3)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=period, gamma=gamma)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    ema = EMA(model, decay=ema_decay) if ema_decay is not None else None

    def evaluated_model() -> nn.Module:
        return ema.module if ema is not None else model

    history = FitHistory()
    best_state: dict[str, torch.Tensor] | None = None
    bad_evals = 0
    running, running_count = 0.0, 0
    perm = torch.randperm(n, generator=order_gen)
    cursor = 0
    bar = tqdm(total=total_steps, disable=not progress, desc="fit", leave=False)
    model.train()
    for step in range(1, total_steps + 1):
        if cursor + batch_size > n:
            perm, cursor = torch.randperm(n, generator=order_gen), 0
        idx = perm[cursor : cursor + batch_size]
        cursor += batch_size
        batch = train_data[idx].to(device=device, dtype=dtype)
        loss = _loss_value(loss_fn(model, batch))
        if not torch.isfinite(loss):
            raise FloatingPointError(f"non-finite training loss {float(loss)} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
        optimizer.step()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        running += float(loss.detach())
        running_count += 1
        bar.update(1)

        if step % eval_every == 0 or step == total_steps:
            history.step.append(step)
            history.train_loss.append(running / running_count)
            history.lr.append(optimizer.param_groups[0]["lr"])
            running, running_count = 0.0, 0
            postfix = {"loss": f"{history.train_loss[-1]:.3e}"}
            improved = True
            if validate:
                evaluated = evaluated_model()
                was_training = evaluated.training
                evaluated.eval()
                if val_fn is not None:
                    with torch.no_grad():
                        val = float(val_fn(evaluated))
                else:
                    val = _evaluate(evaluated, loss_fn, val_data, batch_size, device, dtype)
                evaluated.train(was_training)
                history.val_loss.append(val)
                postfix["val"] = f"{val:.3e}"
                best = history.best_val_loss
                improved = math.isnan(best) or val < best - min_delta
            if improved:
                history.best_step = step
                if validate:
                    history.best_val_loss = history.val_loss[-1]
                    if restore_best:
                        best_state = copy.deepcopy(evaluated_model().state_dict())
                bad_evals = 0
            else:
                bad_evals += 1
            bar.set_postfix(postfix)
            if checkpoint is not None:
                state = {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": step,
                    "history": vars(history),
                }
                if ema is not None:
                    state["ema"] = ema.state_dict()
                save_checkpoint(state, checkpoint)
            if patience is not None and bad_evals >= patience:
                history.stopped_early = True
                break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    elif ema is not None:
        model.load_state_dict(ema.module.state_dict())
    return history
