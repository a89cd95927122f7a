"""Teacher presets (``teacher-<data>``): an EDM network, its training data and its training.

- ``teacher-checkerboard``: residual MLP (width 256, 4 blocks) on a fixed set of 1M checkerboard
  samples; the data's std is about 2.57, so ``sigma_data = 2.5`` and
  ``P_mean = −1.2 + ln(2.5/0.5) ≈ 0.4`` put the training noise levels on the data's scale (teacher
  guide);
- ``teacher-digits``: class-conditional small UNet (32 channels, two levels) on the 8×8 digits;
- ``teacher-digits-uncond``: the same without labels.

These three train with Adam, a 200-step linear warm-up then cosine decay to 0, gradient clipping at
1 and an EMA of decay 0.999 with warm-up.

The image teachers are EDM's DDPM++ configurations (Karras et al. 2022; NVlabs/edm ``train.py``
with ``--arch=ddpmpp --precond=edm`` and the options of its table of pretrained models):

======================  ===========  =====  ======  =======  =======  =====================
preset                  channel      batch  lr      dropout  augment  data
                        mult
======================  ===========  =====  ======  =======  =======  =====================
teacher-cifar10-uncond  2, 2, 2      512    1e-3    0.13     0.12     CIFAR-10 train split
teacher-cifar10-cond    2, 2, 2      512    1e-3    0.13     0.12     CIFAR-10, 10 classes
teacher-ffhq64          1, 2, 2, 2   256    2e-4    0.05     0.15     FFHQ 64×64 folder
teacher-afhqv2-64       1, 2, 2, 2   256    2e-4    0.25     0.15     AFHQv2 64×64 folder
======================  ===========  =====  ======  =======  =======  =====================

All: 128 channels, 4 blocks per level, attention at 16×16, 9 augmentation labels; Adam (0.9,
0.999) without gradient clipping or decay; 200 M training images (``steps = 200e6 / batch``);
EDM's learning-rate ramp over the first 10 M images; EDM's EMA half-life of 0.5 M images as the
per-step decay ``0.5^(batch / 500k)`` with the trainer's EMA warm-up standing in for EDM's
half-life ramp-up. fp32 as EDM trained them; ``--set train.amp=bf16`` for speed. The data's
``root`` is a placeholder: set ``data.root`` to the local archive or folder.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from koopkit_diffusion.data import DataConfig
from koopkit_diffusion.teacher import TeacherConfig
from koopkit_diffusion.trainer import TrainerConfig

from .base import Preset

__all__ = ["PRESETS"]

_TRAIN = dict(
    lr_warmup_steps=200,
    lr_decay="cosine",
    ema_decay=0.999,
    ema_warmup=True,
    grad_clip=1.0,
    log_every=50,
)


def checkerboard() -> Preset:
    """EDM teacher of the 2-D checkerboard."""
    return Preset(
        "teacher-checkerboard",
        "EDM teacher, 2-D checkerboard: residual MLP width 256, 4 blocks, 16k steps at batch 512",
        TeacherConfig(shape=(2,), network="mlp", hidden=256, depth=4, sigma_data=2.5, P_mean=0.4),
        TrainerConfig(steps=16_000, batch_size=512, lr=1e-3, checkpoint_every=1000, **_TRAIN),
        DataConfig(name="checkerboard", n=1_000_000, seed=0),
    )


def _digits(name: str, labels: bool) -> Preset:
    kind = "class-conditional" if labels else "unconditional"
    return Preset(
        name,
        f"EDM teacher, 8×8 digits, {kind}: UNet 32 channels, 2 levels, 4k steps at batch 128",
        TeacherConfig(
            shape=(1, 8, 8),
            label_dim=10 if labels else 0,
            network="unet",
            model_channels=32,
            channel_mult=(1, 2),
            num_blocks=1,
            attn_resolutions=(4,),
        ),
        TrainerConfig(steps=4000, batch_size=128, lr=2e-3, checkpoint_every=500, **_TRAIN),
        DataConfig(name="digits", labels=labels),
    )


#: EDM's training length and schedules, in images (NVlabs/edm train.py and training_loop.py).
_EDM_DURATION, _EDM_LR_RAMPUP, _EDM_EMA_HALFLIFE = 200_000_000, 10_000_000, 500_000


def _edm_image(
    name: str,
    description: str,
    data: DataConfig,
    *,
    channel_mult: tuple[int, ...],
    batch: int,
    lr: float,
    dropout: float,
    label_dim: int = 0,
) -> Preset:
    channels, resolution, _ = data.shape
    return Preset(
        name,
        description,
        TeacherConfig(
            shape=(channels, resolution, resolution),
            label_dim=label_dim,
            network="unet",
            model_channels=128,
            channel_mult=channel_mult,
            num_blocks=4,
            attn_resolutions=(16,),
            dropout=dropout,
            augment_dim=data.augment_dim,
        ),
        TrainerConfig(
            steps=_EDM_DURATION // batch,
            batch_size=batch,
            lr=lr,
            betas=(0.9, 0.999),
            lr_warmup_steps=math.ceil(_EDM_LR_RAMPUP / batch),
            grad_clip=None,
            ema_decay=0.5 ** (batch / _EDM_EMA_HALFLIFE),
            ema_warmup=True,
            cudnn_benchmark=True,
            log_every=100,
            checkpoint_every=5000,
            sample_every=5000,
        ),
        data,
    )


def cifar10(labels: bool) -> Preset:
    """EDM's CIFAR-10 DDPM++ teacher (``--arch=ddpmpp``, 32×32)."""
    kind = "cond" if labels else "uncond"
    return _edm_image(
        f"teacher-cifar10-{kind}",
        f"EDM DDPM++ teacher, CIFAR-10 {kind}itional: 56M parameters, 200 Mimg at batch 512",
        DataConfig(
            name="cifar10", root="data/cifar-10-python.tar.gz", labels=labels, augment=0.12
        ),  # fmt: skip
        channel_mult=(2, 2, 2),
        batch=512,
        lr=1e-3,
        dropout=0.13,
        label_dim=10 if labels else 0,
    )


def _faces(name: str, folder: str, dropout: float) -> Preset:
    return _edm_image(
        name,
        f"EDM DDPM++ teacher, {folder} 64×64 unconditional: 200 Mimg at batch 256",
        DataConfig(name="image_folder", root=f"data/{folder}", resolution=64, augment=0.15),
        channel_mult=(1, 2, 2, 2),
        batch=256,
        lr=2e-4,
        dropout=dropout,
    )


#: Teacher presets by name.
PRESETS: dict[str, Callable[[], Preset]] = {
    "teacher-checkerboard": checkerboard,
    "teacher-digits": lambda: _digits("teacher-digits", labels=True),
    "teacher-digits-uncond": lambda: _digits("teacher-digits-uncond", labels=False),
    "teacher-cifar10-uncond": lambda: cifar10(labels=False),
    "teacher-cifar10-cond": lambda: cifar10(labels=True),
    "teacher-ffhq64": lambda: _faces("teacher-ffhq64", "ffhq-64x64", dropout=0.05),
    "teacher-afhqv2-64": lambda: _faces("teacher-afhqv2-64", "afhqv2-64x64", dropout=0.25),
}
