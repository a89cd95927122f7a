"""Train, load and sample the project's own EDM teachers (2-D MLP, digits UNet).

A teacher run directory holds ``config.json`` (a :class:`TeacherConfig`), ``metrics.jsonl`` (one
JSON line per logged step) and ``checkpoint.pt`` (model, EMA, optimizer and step; written
atomically and loaded with ``weights_only=True``). Training minimises the EDM loss
(:func:`koopkit_diffusion.edm.edm_loss`) with Adam, a linear learning-rate warm-up followed by
cosine decay, and an exponential moving average of the weights, which is the model that
:func:`load_teacher` returns by default.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from koopkit.io import write_json
from koopkit.training import EMA, load_checkpoint, save_checkpoint, seed_everything
from koopkit_diffusion.edm import EDMPrecond, edm_loss, heun_sample
from koopkit_diffusion.sample_plots import plot_samples  # noqa: F401 (kept importable from here)

__all__ = [
    "PRESETS",
    "Teacher",
    "TeacherConfig",
    "build_teacher",
    "load_teacher",
    "sample_teacher",
    "train_teacher",
]

log = logging.getLogger(__name__)

_TOY = ("checkerboard", "eight_gaussians", "moons", "swiss_roll")


@dataclass
class TeacherConfig:
    """Everything that defines a teacher run.

    Attributes
    ----------
    data : str
        ``"digits"`` or a 2-D toy distribution (``"checkerboard"``, ``"eight_gaussians"``,
        ``"moons"``, ``"swiss_roll"``).
    network : {"mlp", "unet"}
        :class:`~koopkit_diffusion.nets.MLPNet` (2-D data) or :class:`~koopkit_diffusion.nets.UNet`.
    hidden, depth : int
        MLP width and number of residual blocks.
    model_channels, channel_mult, num_blocks, attn_resolutions, dropout
        UNet architecture (see :class:`~koopkit_diffusion.nets.UNet`).
    embedding_type : {"positional", "fourier"}
        Noise-level embedding of either network.
    conditional : bool
        Class-conditional (digits: ``label_dim = 10``).
    steps, batch_size, lr, warmup_steps : int, int, float, int
        Adam steps, mini-batch size, peak learning rate, linear warm-up length (then cosine decay
        to 0 at ``steps``).
    ema_decay : float
        Decay of the weight average.
    grad_clip : float
        Maximum global gradient norm (0: no clipping).
    sigma_data, P_mean, P_std : float
        EDM loss parameters (Karras et al. 2022, Table 1).
    sigma_min, sigma_max : float
        Noise range of the sampler, recorded with the teacher.
    n_train : int
        Size of the fixed training set drawn from a toy distribution (digits: the training split).
    seed : int
        Seeds the initialisation, the toy training set and the batch/noise draws.
    log_every, checkpoint_every : int
        Steps between ``metrics.jsonl`` lines and between checkpoints (the last step is always
        saved).
    """

    data: str = "checkerboard"
    network: str = "mlp"
    hidden: int = 256
    depth: int = 4
    model_channels: int = 32
    channel_mult: tuple[int, ...] = (1, 2)
    num_blocks: int = 2
    attn_resolutions: tuple[int, ...] = (4,)
    dropout: float = 0.0
    embedding_type: str = "positional"
    conditional: bool = False
    steps: int = 16000
    batch_size: int = 512
    lr: float = 2e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    grad_clip: float = 1.0
    sigma_data: float = 0.5
    P_mean: float = -1.2  # noqa: N815 (the paper's name)
    P_std: float = 1.2  # noqa: N815
    sigma_min: float = 0.002
    sigma_max: float = 80.0
    n_train: int = 1_000_000
    seed: int = 0
    log_every: int = 50
    checkpoint_every: int = 1000

    def __post_init__(self) -> None:
        self.channel_mult = tuple(self.channel_mult)
        self.attn_resolutions = tuple(self.attn_resolutions)
        if self.data not in (*_TOY, "digits"):
            raise ValueError(f"data must be 'digits' or one of {_TOY}, got {self.data!r}")
        if self.network not in ("mlp", "unet"):
            raise ValueError(f"network must be 'mlp' or 'unet', got {self.network!r}")
        if (self.network == "mlp") != (self.data in _TOY):
            raise ValueError("use network='mlp' for 2-D toy data and network='unet' for digits")
        if self.embedding_type not in ("positional", "fourier"):
            raise ValueError(
                f"embedding_type must be 'positional' or 'fourier', got {self.embedding_type!r}"
            )
        if self.conditional and self.data != "digits":
            raise ValueError("conditional=True needs labelled data ('digits')")
        for name in ("steps", "batch_size", "n_train", "log_every", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not (self.lr > 0 and 0 <= self.ema_decay < 1 and self.warmup_steps >= 0):
            raise ValueError(
                f"need lr > 0, 0 <= ema_decay < 1, warmup_steps >= 0; got lr={self.lr}, "
                f"ema_decay={self.ema_decay}, warmup_steps={self.warmup_steps}"
            )

    @property
    def num_classes(self) -> int:
        """Number of classes the teacher is conditioned on (0: unconditional)."""
        return 10 if self.conditional else 0

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(2,)`` or ``(1, 8, 8)``."""
        return (2,) if self.data in _TOY else (1, 8, 8)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable dict (tuples become lists)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TeacherConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown TeacherConfig fields {sorted(unknown)}")
        return cls(**values)


PRESETS: dict[str, TeacherConfig] = {
    # 2-D checkerboard: residual MLP, fixed set of 1M samples. The data std is about 2.57, so
    # sigma_data = 2.5 and P_mean = -1.2 + ln(2.5 / 0.5) ~ 0.4 put the training noise levels on
    # the data's scale (SW1 0.0734 -> 0.0555 with lr 1e-3, docs/guide/05-teacher.md).
    "checkerboard": TeacherConfig(sigma_data=2.5, P_mean=0.4, lr=1e-3),
    # 8x8 digits, class-conditional small UNet.
    "digits": TeacherConfig(
        data="digits",
        network="unet",
        conditional=True,
        model_channels=32,
        channel_mult=(1, 2),
        num_blocks=1,
        attn_resolutions=(4,),
        steps=4000,
        batch_size=128,
        lr=2e-3,
        warmup_steps=200,
        ema_decay=0.999,
        checkpoint_every=500,
    ),
}
PRESETS["digits-uncond"] = dataclasses.replace(PRESETS["digits"], conditional=False)


class Teacher(EDMPrecond):
    """An :class:`~koopkit_diffusion.edm.EDMPrecond` that knows its data shape and noise range.

    Parameters
    ----------
    net : torch.nn.Module
        Raw network.
    shape : tuple of int
        Shape of one sample.
    sigma_data : float
    label_dim : int
    sigma_min, sigma_max : float
        Noise range its sampler uses.
    """

    def __init__(self, net, shape, sigma_data=0.5, label_dim=0, sigma_min=0.002, sigma_max=80.0):
        super().__init__(net, sigma_data=sigma_data, label_dim=label_dim)
        self.shape = tuple(shape)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)

    @property
    def denoiser(self) -> Teacher:
        """The callable ``denoiser(x, sigma, labels)`` to hand to samplers: the module itself."""
        return self


def build_teacher(config: TeacherConfig) -> Teacher:
    """A freshly initialised teacher for ``config`` (seeded by ``config.seed``)."""
    from koopkit_diffusion.nets import MLPNet, UNet

    torch.manual_seed(config.seed)
    if config.network == "mlp":
        net = MLPNet(
            dim=2,
            hidden=config.hidden,
            depth=config.depth,
            label_dim=config.num_classes,
            embedding_type=config.embedding_type,
        )
    else:
        net = UNet(
            8,
            1,
            1,
            model_channels=config.model_channels,
            channel_mult=config.channel_mult,
            num_blocks=config.num_blocks,
            attn_resolutions=config.attn_resolutions,
            dropout=config.dropout,
            label_dim=config.num_classes,
            embedding_type=config.embedding_type,
        )
    return Teacher(
        net,
        config.sample_shape,
        config.sigma_data,
        config.num_classes,
        config.sigma_min,
        config.sigma_max,
    )


def _training_data(config: TeacherConfig) -> tuple[torch.Tensor, torch.Tensor | None]:
    from koopkit_diffusion import data

    if config.data == "digits":
        images, labels = data.digits("train")
        return images, (labels if config.conditional else None)
    return data.toy_2d(config.data, config.n_train, seed=config.seed), None


def _lr_factor(step: int, config: TeacherConfig) -> float:
    if step < config.warmup_steps:
        return (step + 1) / config.warmup_steps
    span = max(1, config.steps - config.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - config.warmup_steps) / span)))


def train_teacher(
    config: TeacherConfig | str,
    out_dir: str | os.PathLike,
    progress: bool = True,
    device: str | torch.device = "cpu",
    resume: bool = True,
) -> Path:
    """Train an EDM teacher; returns the run directory.

    Each step draws a mini-batch (indices from a generator seeded by ``(seed, step)``, so a
    resumed run draws the same batches), minimises the mean EDM loss, steps Adam with warm-up +
    cosine learning rate and updates the EMA. ``metrics.jsonl`` gets ``step``, ``loss`` (mean since
    the last line), ``lr``, ``steps_per_s`` and ``elapsed_s``.

    Parameters
    ----------
    config : TeacherConfig or str
        A config or the name of a preset in :data:`PRESETS`.
    out_dir : path
        Run directory (created). An existing run with the same config is resumed from its
        checkpoint (with ``resume``); a different ``config.json`` there is refused.
    progress : bool, default True
        Show a tqdm progress bar.
    device : str or torch.device, default "cpu"
    resume : bool, default True
        Continue from ``checkpoint.pt`` when present; ``False`` refuses an existing checkpoint.

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    from tqdm.auto import tqdm

    if isinstance(config, str):
        if config not in PRESETS:
            raise ValueError(f"unknown preset {config!r}; expected one of {sorted(PRESETS)}")
        config = PRESETS[config]
    run = Path(out_dir)
    run.mkdir(parents=True, exist_ok=True)
    config_path, ckpt_path = run / "config.json", run / "checkpoint.pt"
    if config_path.exists():
        existing = json.loads(config_path.read_text())
        if existing != json.loads(json.dumps(config.to_dict())):
            raise ValueError(f"{config_path} holds a different teacher config; use another --out")
    if ckpt_path.exists() and not resume:
        raise FileExistsError(f"{ckpt_path} exists; pass resume=True or use another directory")
    write_json(config.to_dict(), config_path)

    seed_everything(config.seed)
    model = build_teacher(config).to(device).train()
    ema = EMA(model, decay=config.ema_decay, warmup=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    start = 0
    if ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        log.info("resuming %s at step %d", run, start)
    x_all, y_all = _training_data(config)
    x_all = x_all.to(device)
    y_all = None if y_all is None else y_all.to(device)
    n = x_all.shape[0]
    batch_size = min(config.batch_size, n)
    gen = torch.Generator(device=device)
    metrics = (run / "metrics.jsonl").open("a")
    bar = tqdm(total=config.steps, initial=start, disable=not progress, desc="teacher")
    running, count, t0, t_last, last_step = 0.0, 0, time.perf_counter(), time.perf_counter(), start
    try:
        for step in range(start, config.steps):
            gen.manual_seed(config.seed * 1_000_003 + step)
            idx = torch.randint(n, (batch_size,), device=device, generator=gen)
            labels = None if y_all is None else y_all[idx]
            for group in optimizer.param_groups:
                group["lr"] = config.lr * _lr_factor(step, config)
            loss = edm_loss(
                model, x_all[idx], labels, config.P_mean, config.P_std, config.sigma_data, gen
            ).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            ema.update(model)
            running, count = running + loss.item(), count + 1
            bar.update(1)
            done = step + 1
            if done % config.log_every == 0 or done == config.steps:
                now = time.perf_counter()
                line = {
                    "step": done,
                    "loss": running / count,
                    "lr": optimizer.param_groups[0]["lr"],
                    "steps_per_s": (done - last_step) / (now - t_last),
                    "elapsed_s": now - t0,
                }
                metrics.write(json.dumps(line) + "\n")
                metrics.flush()
                bar.set_postfix(loss=f"{line['loss']:.4f}")
                running, count, t_last, last_step = 0.0, 0, now, done
            if done % config.checkpoint_every == 0 or done == config.steps:
                state = {
                    "model": model.state_dict(),
                    "ema": ema.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "step": done,
                    "config": config.to_dict(),
                }
                save_checkpoint(state, ckpt_path)
    finally:
        bar.close()
        metrics.close()
    return run


def load_teacher(
    run_dir: str | os.PathLike, ema: bool = True, device: str | torch.device = "cpu"
) -> Teacher:
    """Load a trained teacher from a run directory, in eval mode.

    Parameters
    ----------
    run_dir : path
        Directory written by :func:`train_teacher` (``config.json`` and ``checkpoint.pt``).
    ema : bool, default True
        Load the averaged weights (else the raw last weights).
    device : str or torch.device, default "cpu"

    Returns
    -------
    Teacher
        An :class:`~koopkit_diffusion.edm.EDMPrecond` with ``shape``, ``label_dim``,
        ``sigma_min`` and ``sigma_max``; gradients disabled.
    """
    run = Path(run_dir)
    config_path = run / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"no {config_path}; expected a run directory of train_teacher")
    config = TeacherConfig.from_dict(json.loads(config_path.read_text()))
    state = load_checkpoint(run / "checkpoint.pt", map_location=device)
    teacher = build_teacher(config).to(device)
    if ema:
        prefix = "module."
        weights = {k[len(prefix) :]: v for k, v in state["ema"].items() if k.startswith(prefix)}
    else:
        weights = state["model"]
    teacher.load_state_dict(weights)
    return teacher.eval().requires_grad_(False)


def sample_teacher(
    teacher: Teacher,
    n: int,
    n_steps: int = 18,
    seed: int = 0,
    labels: torch.Tensor | None = None,
    batch_size: int = 10_000,
    dtype: torch.dtype | None = None,
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Draw ``n`` samples with the Heun sampler (:func:`~koopkit_diffusion.edm.heun_sample`).

    The noise ``ε`` is drawn on the CPU from ``torch.Generator().manual_seed(seed)`` (so the samples
    do not depend on ``batch_size`` or the device).

    Parameters
    ----------
    teacher : Teacher
    n : int
    n_steps : int, default 18
        Heun steps (``2·n_steps − 1`` evaluations).
    seed : int, default 0
    labels : torch.Tensor of shape (n,), optional
        Classes for a conditional teacher; default ``arange(n) % label_dim`` (balanced).
    batch_size : int, default 10000
    dtype : torch.dtype, optional
        ODE state dtype; default float64 for 2-D data, float32 for images.
    progress : bool, default False

    Returns
    -------
    samples : torch.Tensor of shape (n, ...), on the CPU
        ``...`` is ``teacher.shape``.
    labels : torch.Tensor of shape (n,) or None
    """
    from tqdm.auto import tqdm

    if int(n) != n or n < 1:
        raise ValueError(f"n must be a positive integer, got {n}")
    if teacher.label_dim and labels is None:
        labels = torch.arange(n) % teacher.label_dim
    if labels is not None and labels.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {tuple(labels.shape)}")
    if dtype is None:
        dtype = torch.float64 if len(teacher.shape) == 1 else torch.float32
    device = next(teacher.parameters()).device
    noise = torch.randn(n, *teacher.shape, generator=torch.Generator().manual_seed(seed))
    out = []
    for start in tqdm(range(0, n, batch_size), disable=not progress, desc="sample"):
        stop = min(n, start + batch_size)
        batch_labels = None if labels is None else labels[start:stop].to(device)
        res = heun_sample(
            teacher,
            noise[start:stop].to(device),
            n_steps,
            batch_labels,
            teacher.sigma_min,
            teacher.sigma_max,
            dtype=dtype,
        )
        out.append(res.samples.cpu())
    return torch.cat(out), labels
