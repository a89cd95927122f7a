"""Tiny trained runs shared by the end-to-end tests (seconds on a CPU)."""

from pathlib import Path

import torch

from koopkit_diffusion.edm.nets import MLPNet
from koopkit_diffusion.runs import get_preset, train_run
from koopkit_diffusion.teacher import Teacher

TINY_TEACHER = {
    "model.hidden": "16",
    "model.depth": "1",
    "train.steps": "2",
    "train.batch_size": "32",
    "train.lr_warmup_steps": "1",
    "train.log_every": "1",
    "train.checkpoint_every": "2",
    "train.progress": "false",
    "data.n": "500",
}


def tiny_checkerboard_teacher(out: Path) -> Path:
    """Train the checkerboard teacher for two steps with a 16-wide MLP; return its run dir."""
    train_run(get_preset("teacher-checkerboard", TINY_TEACHER), out)
    return Path(out)


def mlp_teacher(label_dim: int = 0, seed: int = 0) -> Teacher:
    """A small untrained 2-D MLP teacher; its weights depend on ``seed`` only."""
    torch.manual_seed(seed)
    net = MLPNet(dim=2, hidden=32, depth=1, label_dim=label_dim)
    return Teacher(net, shape=(2,), label_dim=label_dim).eval()
