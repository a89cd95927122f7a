"""The trainer's files: verified checkpoints (keep-last-K, ``latest``), their writer and reader.

The trainer is the only writer of these files (:func:`write_checkpoint`, :func:`save_weights`);
everything else reads them with :func:`load_run`. A checkpoint holds the trainer's configuration
and world size of the steps it saw (what an exact resume checks); nothing else in the run folder
repeats them (the run's own record, if any, belongs to whoever built the run).

Every checkpoint ``ckpt-<step>.pt`` is followed by its checksum file ``ckpt-<step>.pt.sha256``
(``sha256sum`` format), each written atomically. A checkpoint is read only after its sha256
matches (:func:`read_checkpoint`), and always with ``torch.load(..., weights_only=True)``, so a
flipped byte, a truncated or empty file, or a file holding pickled code is reported by name
instead of being used. Resuming falls back to the newest intact checkpoint, saying which
(:meth:`CheckpointManager.newest_intact`); sampling and evaluation refuse a corrupt one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import pickle
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from koopkit.io import atomic_write, file_sha256
from koopkit.training import save_checkpoint

from .config import TrainerConfig

__all__ = [
    "CHECKPOINT_DIR",
    "CheckpointManager",
    "CorruptCheckpointError",
    "RunState",
    "ema_model_state",
    "holds_trainer_files",
    "load_run",
    "naming_the_file",
    "read_checkpoint",
    "resolve_checkpoint",
    "save_weights",
    "truncate_metrics",
    "weights_state",
    "write_checkpoint",
]

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = 1
CHECKSUM_SUFFIX = ".sha256"
#: The folder of a run directory that holds the trainer's checkpoints.
CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^ckpt-(\d+)\.pt$")
# Temporary files of the trainer's own atomic writes (koopkit.io.atomic_write names them
# ``.<name>.tmp-<random>``), left behind only by a process killed mid-write.
_LITTER = {
    CHECKPOINT_DIR: (".ckpt-*.pt.tmp-*", ".ckpt-*.pt.sha256.tmp-*", ".latest.tmp-*"),
    ".": (".*.pt.tmp-*", ".*.pt.sha256.tmp-*", ".metrics.jsonl.tmp-*", ".metrics.png.tmp-*"),
}


class CorruptCheckpointError(ValueError):
    """A checkpoint that fails its checksum, cannot be read, or holds more than tensors."""


@contextlib.contextmanager
def naming_the_file(path: str | os.PathLike) -> Iterator[None]:
    """Re-raise a failed write (full disk, permissions) as an ``OSError`` that names ``path``.

    ``torch.save`` reports a full disk as ``RuntimeError: ... unexpected pos`` with the
    ``OSError`` only in its context, and a plain ``write`` names no file.
    """
    try:
        yield
    except (OSError, RuntimeError) as err:
        cause: BaseException | None = err
        while cause is not None and not isinstance(cause, OSError):
            cause = cause.__cause__ or cause.__context__
        if cause is None:
            with contextlib.suppress(OSError):
                if shutil.disk_usage(Path(path).parent).free == 0:
                    cause = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if cause is None or cause.filename is not None:
            raise
        raise OSError(cause.errno, cause.strerror or str(cause), str(path)) from err


def checksum_file(path: Path) -> Path:
    """The checksum file of checkpoint ``path``: ``ckpt-<step>.pt.sha256``."""
    return path.with_name(path.name + CHECKSUM_SUFFIX)


def write_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write a state dict to ``path`` and then its checksum file, each atomically.

    The one writer of checkpoint files: the trainer's own (:class:`CheckpointManager`) and the
    weights that others keep as checkpoints (:func:`save_weights`). :func:`read_checkpoint` reads
    them back only once their sha256 matches.

    Parameters
    ----------
    path : path-like
        The checkpoint file (``.pt``); its checksum goes to ``<path>.sha256``.
    state : dict
        Tensors and plain containers (what ``torch.load(..., weights_only=True)`` reads).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OSError
        Naming the file that could not be written (a full disk, say).
    """
    path = Path(path)
    with naming_the_file(path):
        save_checkpoint(state, path)
    sidecar = checksum_file(path)
    with naming_the_file(sidecar), atomic_write(sidecar, "w") as f:
        f.write(f"{file_sha256(path)}  {path.name}\n")
    return path


def weights_state(weights: dict[str, torch.Tensor], step: int) -> dict[str, Any]:
    """A checkpoint of weights alone, in the trainer's layout (what :func:`load_run` reads).

    Both ``model`` and ``ema`` hold ``weights``: the state is for sampling, not for resuming (it
    has no optimizer, random state or ``config``).

    Parameters
    ----------
    weights : dict of str to Tensor
        A state dict (copied to the CPU).
    step : int
        The training step the weights belong to (0 for a network trained elsewhere).

    Returns
    -------
    dict
    """
    weights = {k: v.detach().cpu() for k, v in weights.items()}
    return {
        "format": CHECKPOINT_FORMAT,
        "step": int(step),
        "model": weights,
        "ema": {f"module.{k}": v for k, v in weights.items()},
    }


def save_weights(
    run_dir: str | os.PathLike, weights: dict[str, torch.Tensor], step: int = 0
) -> Path:
    """Make ``run_dir`` a run whose step-``step`` checkpoint holds ``weights`` (no training).

    For networks trained elsewhere (an imported EDM network, say): :func:`load_run` then reads
    them like any run's, with ``RunState.config`` ``None`` (no trainer configuration is claimed).

    Parameters
    ----------
    run_dir : path-like
    weights : dict of str to Tensor
    step : int, default 0

    Returns
    -------
    pathlib.Path
        The checkpoint written.
    """
    return CheckpointManager(run_dir, keep_last=None).save(weights_state(weights, step), step)


def holds_trainer_files(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds the trainer's checkpoint folder."""
    return (Path(directory) / CHECKPOINT_DIR).is_dir()


def _checksum_problem(path: Path) -> str:
    """Why ``path`` fails its checksum, ``""`` if it passes (or has no checksum file)."""
    if not path.is_file():
        return "missing"
    size = path.stat().st_size
    if size == 0:
        return "empty (0 bytes)"
    sidecar = checksum_file(path)
    if not sidecar.is_file():
        return ""
    recorded = sidecar.read_text(errors="replace").split()
    if not recorded or len(recorded[0]) != 64:
        return f"its checksum file {sidecar.name} is unreadable"
    if file_sha256(path) != recorded[0]:
        return f"sha256 differs from {sidecar.name} (altered or truncated; {size} bytes)"
    return ""


def read_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Verify a checkpoint against its checksum file, then load it with ``weights_only=True``.

    A checkpoint without a checksum file (written before checksums, or by a writer killed
    between the two files) is loaded with a warning; ``torch.load`` still refuses anything but
    tensors and plain containers, so no pickled code runs.

    Parameters
    ----------
    path : path
        A checkpoint file.
    map_location : optional
        Passed to :func:`torch.load`.

    Returns
    -------
    dict
        The saved state.

    Raises
    ------
    FileNotFoundError
        No file at ``path``.
    CorruptCheckpointError
        Empty, altered, truncated, unreadable, or holding objects other than tensors; the message
        names the file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint file at {path}")
    problem = _checksum_problem(path)
    if problem:
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: {problem}")
    if not checksum_file(path).is_file():
        logger.warning("%s has no checksum file %s: loading it unverified", path,
                       checksum_file(path).name)  # fmt: skip
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as err:
        found = [line.strip() for line in str(err).splitlines() if "Unsupported" in line]
        raise CorruptCheckpointError(
            f"refused checkpoint {path}: loaded with weights_only=True it is not a state dict of "
            "tensors and plain containers (nothing in it was run)"
            + (f"; {found[0]}" if found else "")
        ) from err
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise CorruptCheckpointError(f"corrupt checkpoint {path}: unreadable ({first})") from err
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path} holds a {type(state).__name__}, not a state dict")
    return state


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
        self.dir = Path(run_dir) / CHECKPOINT_DIR
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
        """The checkpoint of the highest step, or ``None`` (the ``latest`` file names it too)."""
        files = self.list()
        return files[-1] if files else None

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write ``state`` and then its checksum file atomically, move ``latest`` to it, and
        delete checkpoints beyond K.

        Raises
        ------
        OSError
            Naming the file that could not be written (a full disk, say).
        """
        path = write_checkpoint(self.path(step), state)
        with naming_the_file(self.dir / "latest"), atomic_write(self.dir / "latest", "w") as f:
            f.write(path.name + "\n")
        if self.keep_last is not None:
            for old in self.list()[: -self.keep_last]:
                old.unlink(missing_ok=True)
                checksum_file(old).unlink(missing_ok=True)
        return path

    def newest_intact(self, map_location: Any = "cpu") -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that passes :func:`read_checkpoint`, and its state.

        Corrupt newer checkpoints are skipped with a warning naming each and the one used.

        Returns
        -------
        (Path, dict) or None
            ``None`` when there is no checkpoint file at all.

        Raises
        ------
        CorruptCheckpointError
            When there are checkpoints but none is intact (each one's problem is listed).
        """
        problems = []
        for path in reversed(self.list()):
            try:
                state = read_checkpoint(path, map_location=map_location)
            except CorruptCheckpointError as err:
                problems.append(str(err))
                continue
            for problem in problems:
                logger.warning("%s; falling back to %s", problem, path.name)
            return path, state
        if problems:
            raise CorruptCheckpointError(
                f"no intact checkpoint in {self.dir}:\n  " + "\n  ".join(problems)
            )
        return None

    def set_aside(self, newer_than: int) -> list[Path]:
        """Rename checkpoints of steps above ``newer_than`` to ``*.corrupt`` (after a fall-back),
        so that neither ``latest`` nor the rotation mistakes them for good ones."""
        moved = []
        for path in self.list():
            if int(_NAME.match(path.name).group(1)) > newer_than:
                for file in (path, checksum_file(path)):
                    if file.exists():
                        file.replace(file.with_name(file.name + ".corrupt"))
                moved.append(path)
                logger.warning("moved %s aside as %s.corrupt", path, path.name)
        return moved

    def remove_litter(self) -> list[Path]:
        """Delete temporary files that the trainer's atomic writes left when killed mid-write."""
        removed = []
        for folder, patterns in _LITTER.items():
            where = self.dir if folder == "checkpoints" else self.dir.parent
            for pattern in patterns:
                for path in where.glob(pattern):
                    path.unlink(missing_ok=True)
                    removed.append(path)
        if removed:
            logger.info("removed %d partial file(s) of an interrupted write: %s", len(removed),
                        ", ".join(p.name for p in removed))  # fmt: skip
        return removed


def resolve_checkpoint(run_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> Path:
    """``"latest"`` → the run's newest checkpoint file; anything else is a path to one.

    The file is not verified here (see :func:`read_checkpoint`).
    """
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
    config : TrainerConfig or None
        The trainer's configuration when the checkpoint was written; ``None`` for weights that
        were not trained here (:func:`save_weights`).
    world_size : int
        Processes that trained up to the checkpoint (1 for :func:`save_weights`).
    step : int
        Global step of the checkpoint.
    model_state, ema_state : dict
        State dicts of the trained model and of its exponential moving average (same keys).
    checkpoint : pathlib.Path
        The file that was read.
    model : torch.nn.Module or None
        The caller's model holding the EMA weights, when one was passed.
    """

    config: TrainerConfig | None
    world_size: int
    step: int
    model_state: dict
    ema_state: dict
    checkpoint: Path
    model: nn.Module | None = field(default=None, repr=False)


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
        A model of the run's architecture; its weights are replaced in place by the EMA weights,
        and it is put in eval mode.
    checkpoint : "latest" or path, default "latest"
        Which checkpoint to read.
    map_location : optional
        Passed to :func:`torch.load`.

    Returns
    -------
    RunState

    Raises
    ------
    CorruptCheckpointError
        When the checkpoint fails its checksum or cannot be read (naming it, and the newest
        intact one a resumed training would fall back to), or does not fit ``model``.
    """
    path = resolve_checkpoint(run_dir, checkpoint)
    try:
        state = read_checkpoint(path, map_location=map_location)
    except CorruptCheckpointError as err:
        intact = [p for p in CheckpointManager(run_dir, None).list() if p != path]
        intact = [p for p in intact if not _checksum_problem(p)]
        hint = (
            f"; the newest intact checkpoint is {intact[-1].name} (resume the training to continue "
            "from it, or load it by path)"
            if intact
            else ""
        )
        raise CorruptCheckpointError(f"{err}{hint}") from err
    if not {"ema", "model", "step"} <= set(state):
        raise CorruptCheckpointError(f"{path} is not a trainer checkpoint (no ema/model/step)")
    ema_state = ema_model_state(state["ema"])
    if model is not None:
        try:
            model.load_state_dict(ema_state)
        except RuntimeError as err:
            first = str(err).strip().splitlines()[0]
            raise CorruptCheckpointError(
                f"{path} does not fit the model built from the run's configuration ({first})"
            ) from err
        model.eval()
    config = state.get("config")
    return RunState(
        config=None if config is None else TrainerConfig.from_dict(config),
        world_size=int(state.get("world_size", 1)),
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
