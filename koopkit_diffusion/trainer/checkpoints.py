"""The run directory: config, checkpoints (keep-last-K, ``latest`` pointer), metrics, loading."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from koopkit.io import atomic_write
from koopkit.training import load_checkpoint, save_checkpoint

from .config import TrainerConfig

__all__ = [
    "RunState",
    "load_run",
    "read_run_config",
    "resolve_checkpoint",
    "CheckpointManager",
    "ema_model_state",
    "truncate_metrics",
]

CHECKPOINT_FORMAT = 1
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")


class CheckpointManager:
    """``run_dir/checkpoints/ckpt-<step>.pt`` files, a ``latest`` pointer and rotation.

    Parameters
    ----------
    run_dir : path
        The run directory.
    keep_last : int or None
        Checkpoints kept after each save (the newest ones); ``None`` keeps all.
    """

    def __init__(self, run_dir: str | os.PathLike, keep_last: int | None) -> None:
        self.dir = Path(run_dir) / "checkpoints"
        self.keep_last = keep_last

    def path(self, step: int) -> Path:
        """File name of the checkpoint of global step ``step``."""
        return self.dir / f"ckpt-{step:08d}.pt"

    def list(self) -> list[Path]:
        """Checkpoint files, oldest first."""
        if not self.dir.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.dir.iterdir() if (m := _NAME.match(p.name))]
        return [p for _, p in sorted(found)]

    def latest(self) -> Path | None:
        """The newest checkpoint named by ``latest`` (or, failing that, the highest step)."""
        pointer = self.dir / "latest"
        if pointer.is_file():
            candidate = self.dir / pointer.read_text().strip()
            if candidate.is_file():
                return candidate
        files = self.list()
        return files[-1] if files else None

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write ``state`` atomically, move ``latest`` to it, delete checkpoints beyond K."""
        path = save_checkpoint(state, self.path(step))
        with atomic_write(self.dir / "latest", "w") as f:
            f.write(path.name + "\n")
        if self.keep_last is not None:
            for old in self.list()[: -self.keep_last]:
                old.unlink(missing_ok=True)
        return path


def resolve_checkpoint(run_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> Path:
    """``"latest"`` → the run's newest checkpoint; anything else is a path to a checkpoint file."""
    if str(checkpoint) == "latest":
        path = CheckpointManager(run_dir, None).latest()
        if path is None:
            raise FileNotFoundError(
                f"no checkpoint in {Path(run_dir) / 'checkpoints'} (expected ckpt-<step>.pt files "
                "written by the trainer)"
            )
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    return path


@dataclass
class RunState:
    """What :func:`load_run` returns.

    Attributes
    ----------
    config : TrainerConfig
        The run's trainer configuration (from ``config.json``).
    metadata : dict
        The caller's ``metadata`` stored in ``config.json`` (e.g. the model's config / preset).
    step : int
        Global step of the checkpoint.
    model_state, ema_state : dict
        State dicts of the trained model and of its exponential moving average (same keys).
    checkpoint : pathlib.Path
        The file that was read.
    model : torch.nn.Module or None
        The caller's model holding the EMA weights, when one was passed.
    """

    config: TrainerConfig
    metadata: dict
    step: int
    model_state: dict
    ema_state: dict
    checkpoint: Path
    model: nn.Module | None = field(default=None, repr=False)


def read_run_config(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The parsed ``config.json`` of a run directory."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (expected a run directory written by Trainer)")
    return json.loads(path.read_text())


def ema_model_state(ema_state: dict[str, Any]) -> dict[str, Any]:
    """The averaged model's state dict out of an :class:`koopkit.training.EMA` state dict."""
    return {k[len("module.") :]: v for k, v in ema_state.items() if k.startswith("module.")}


def load_run(
    run_dir: str | os.PathLike,
    model: nn.Module | None = None,
    *,
    checkpoint: str | os.PathLike = "latest",
    map_location: Any = "cpu",
) -> RunState:
    """Load a finished (or interrupted) run for sampling and evaluation.

    Parameters
    ----------
    run_dir : path
        A run directory written by :class:`Trainer`.
    model : torch.nn.Module, optional
        A model built with the run's configuration (see ``RunState.metadata``); its weights are
        replaced in place by the EMA weights, and it is put in eval mode.
    checkpoint : "latest" or path, default "latest"
        Which checkpoint to read.
    map_location : optional
        Passed to :func:`torch.load`.

    Returns
    -------
    RunState
    """
    config = read_run_config(run_dir)
    path = resolve_checkpoint(run_dir, checkpoint)
    state = load_checkpoint(path, map_location=map_location)
    ema_state = ema_model_state(state["ema"])
    if model is not None:
        model.load_state_dict(ema_state)
        model.eval()
    return RunState(
        config=TrainerConfig.from_dict(config["trainer"]),
        metadata=config.get("metadata") or {},
        step=int(state["step"]),
        model_state=state["model"],
        ema_state=ema_state,
        checkpoint=path,
        model=model,
    )


def truncate_metrics(path: Path, step: int) -> list[dict[str, Any]]:
    """Drop ``metrics.jsonl`` records past ``step`` (written after the checkpoint we resume)."""
    if not path.is_file():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    kept = [r for r in records if r["step"] <= step]
    with atomic_write(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in kept)
    return kept
