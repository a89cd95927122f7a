"""Teacher presets (``teacher-<data>``): an EDM network, its training data and its training.

- ``teacher-checkerboard``: residual MLP (width 256, 4 blocks) on a fixed set of 1M checkerboard
  samples; the data's std is about 2.57, so ``sigma_data = 2.5`` and
  ``P_mean = −1.2 + ln(2.5/0.5) ≈ 0.4`` put the training noise levels on the data's scale (teacher
  guide);
- ``teacher-digits``: class-conditional small UNet (32 channels, two levels) on the 8×8 digits;
- ``teacher-digits-uncond``: the same without labels.

All train with Adam, a 200-step linear warm-up then cosine decay to 0, gradient clipping at 1 and
an EMA of decay 0.999 with warm-up.
"""

from __future__ import annotations

from collections.abc import Callable

from koopkit_diffusion.data import DataConfig
from koopkit_diffusion.teacher import TeacherConfig
from koopkit_diffusion.trainer import TrainerConfig

from . import Preset

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


#: Teacher presets by name.
PRESETS: dict[str, Callable[[], Preset]] = {
    "teacher-checkerboard": checkerboard,
    "teacher-digits": lambda: _digits("teacher-digits", labels=True),
    "teacher-digits-uncond": lambda: _digits("teacher-digits-uncond", labels=False),
}
