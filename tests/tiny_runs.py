"""Tiny trained runs shared by the end-to-end tests (seconds on a CPU)."""

import dataclasses
from pathlib import Path

from koopkit_diffusion.teacher import PRESETS, train_teacher


def tiny_checkerboard_teacher(out: Path) -> Path:
    """Train the checkerboard teacher for two steps with a 16-wide MLP; return its run dir."""
    config = dataclasses.replace(
        PRESETS["checkerboard"],
        hidden=16,
        depth=1,
        steps=2,
        batch_size=32,
        n_train=500,
        warmup_steps=1,
        log_every=1,
        checkpoint_every=2,
    )
    return train_teacher(config, out, progress=False)
