"""The one run record: what every run directory (teacher, KDM, KD, pair set) holds about itself.

``run.json`` is written by the code that creates the run and read by everything else; nothing is
guessed from shapes or file layouts. Writers claim a directory with :func:`claim_directory`,
which refuses a directory that holds a run of another kind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from koopkit.io import write_json
from koopkit_diffusion._version import __version__
from koopkit_diffusion.students import STUDENTS
from koopkit_diffusion.trainer.checkpoints import holds_trainer_files

__all__ = [
    "MODEL_KINDS",
    "RECORD_FILE",
    "RUN_KINDS",
    "STUDENT_KINDS",
    "RunRecord",
    "claim_directory",
    "find_record",
    "manifest_sha256",
    "config_defaults",
    "record_differences",
]

RECORD_FILE = "run.json"
RECORD_FORMAT = 1
#: The one enumeration of what a run directory can hold: a trained model (the teacher or one of
#: the students of :data:`koopkit_diffusion.students.STUDENTS`) or a pair set.
STUDENT_KINDS = tuple(STUDENTS)
MODEL_KINDS = ("teacher", *STUDENT_KINDS)
RUN_KINDS = (*MODEL_KINDS, "pairs")
_PAIR_MANIFEST = "manifest.json"


@dataclass
class RunRecord:
    """The typed record of a run directory (``run.json``).

    Parameters
    ----------
    kind : str
        One of :data:`RUN_KINDS`: ``"teacher"``, a student (``"kdm"``, ``"kd"``) or ``"pairs"``.
    preset : str or None
        Name of the preset the run was built from (``None`` for imported or hand-built runs).
    overrides : dict of str to str
        The ``--set`` overrides applied to the preset.
    config : dict
        The resolved configuration by section (``model``, ``train``, ``data`` for training runs;
        the generation settings for pair sets).
    data : dict or None
        The data the samples come from (a :class:`~koopkit_diffusion.data.DataConfig` as a dict):
        a teacher's training data, inherited by its pair sets and their students; ``None`` when
        unknown (imported pairs, say).
    teacher_run : str or None
        The teacher run a pair set (and so a student) comes from.
    pairs : str or None
        The pair set a student was trained on.
    pairs_manifest_sha256 : str or None
        sha256 of that pair set's ``manifest.json`` (which lists the sha256 of every shard).
    source : str
        How the run was made: ``"trained"``, ``"generated"``, ``"imported:<format>"``, ...
    version : str
        The koopkit version that wrote the record.
    """

    kind: str
    preset: str | None = None
    overrides: dict[str, str] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] | None = None
    teacher_run: str | None = None
    pairs: str | None = None
    pairs_manifest_sha256: str | None = None
    source: str = "trained"
    version: str = ""
    format: int = RECORD_FORMAT

    def __post_init__(self) -> None:
        if self.kind not in RUN_KINDS:
            raise ValueError(f"run kind must be one of {RUN_KINDS}, got {self.kind!r}")
        # As JSON holds them (tuples become lists), so that a record equals its re-read self.
        self.config = json.loads(json.dumps(self.config))
        self.data = None if self.data is None else json.loads(json.dumps(self.data))
        self.overrides = {str(k): str(v) for k, v in self.overrides.items()}
        if not self.version:
            self.version = __version__

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dataclasses.asdict(self)

    def write(self, directory: str | os.PathLike) -> Path:
        """Write ``directory/run.json`` atomically; returns its path."""
        return write_json(self.to_dict(), Path(directory) / RECORD_FILE, sort_keys=True)

    @classmethod
    def read(cls, directory: str | os.PathLike) -> RunRecord:
        """Read ``directory/run.json``.

        Raises
        ------
        FileNotFoundError
            No record: the directory is not a run written by koopkit.
        ValueError
            The record is malformed or of an unknown format.
        """
        path = Path(directory) / RECORD_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: {directory} is not a koopkit run directory (train it with "
                "`koopkit-diffusion train` / `teacher train`, or make pairs with `pairs generate`)"
            )
        try:
            values = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON ({err})") from err
        if not isinstance(values, dict) or values.get("format") != RECORD_FORMAT:
            raise ValueError(f"{path} is not a run record of format {RECORD_FORMAT}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown or "kind" not in values:
            raise ValueError(f"{path}: unknown fields {unknown} or no 'kind'")
        return cls(**values)


def find_record(directory: str | os.PathLike) -> RunRecord | None:
    """The record of ``directory``, or ``None`` when it has none."""
    if not (Path(directory) / RECORD_FILE).is_file():
        return None
    return RunRecord.read(directory)


def claim_directory(directory: str | os.PathLike, kind: str) -> RunRecord | None:
    """Check that a run of ``kind`` may be written into ``directory``; return its record if any.

    Refuses a regular file, a path below a regular file, a directory whose record names another
    kind, a pair set (its ``manifest.json``) for a training run, a trainer's files for a pair
    set, and a non-empty directory that holds no koopkit run at all (whose files a writer could
    overwrite or delete).

    Raises
    ------
    FileExistsError
        Naming what the directory holds.
    """
    if kind not in RUN_KINDS:
        raise ValueError(f"run kind must be one of {RUN_KINDS}, got {kind!r}")
    path = Path(directory)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} is a file, not a run directory")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise FileExistsError(f"cannot create {path}: {parent} is a file")
    record = find_record(path) if path.is_dir() else None
    if record is not None and record.kind != kind:
        raise FileExistsError(
            f"{path} holds a {record.kind} run (run.json); it cannot take a {kind} run: choose "
            "another directory"
        )
    if record is None and path.is_dir():
        if kind != "pairs" and (path / _PAIR_MANIFEST).is_file():
            raise FileExistsError(f"{path} holds a pair set; it cannot take a {kind} run")
        if kind == "pairs" and holds_trainer_files(path):
            raise FileExistsError(f"{path} holds a training run; it cannot take a pair set")
        # Without a record, only a run of this kind that was interrupted before writing it
        # (the trainer's files, a pair set's manifest) may be continued.
        if kind == "pairs":
            own = any((path / name).exists() for name in (_PAIR_MANIFEST, ".manifest.lock"))
        else:
            own = holds_trainer_files(path)
        if any(path.iterdir()) and not own:
            found = sorted(p.name for p in path.iterdir())
            shown = ", ".join(found[:5]) + (", ..." if len(found) > 5 else "")
            raise FileExistsError(
                f"{path} is not empty ({shown}) and holds no koopkit run (no {RECORD_FILE}); "
                f"choose a new or empty directory for the {kind} run"
            )
    return record


def manifest_sha256(pairs_dir: str | os.PathLike) -> str:
    """sha256 of a pair set's ``manifest.json``, which identifies it (it lists every shard's)."""
    path = Path(pairs_dir) / _PAIR_MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a pair set")
    return hashlib.sha256(path.read_bytes()).hexdigest()


def record_differences(
    old: RunRecord, new: RunRecord, defaults: dict[str, dict[str, Any]] | None = None
) -> list[str]:
    """What differs between two records in what a resumed run must keep (config, pairs, kind).

    Parameters
    ----------
    old, new : RunRecord
        The record found in the run directory and the one a resumed run would write.
    defaults : dict of str to dict, optional
        ``{section: {field: default}}`` (see :func:`config_defaults`). A field that ``old`` lacks
        (a record written before the field existed) agrees when ``new`` holds its default: new
        fields default to the earlier behaviour.

    Returns
    -------
    list of str
        ``"section.field: old → new"`` lines; empty when the runs agree. Fields that do not change
        the result (progress, logging, checkpoint cadence, device) are ignored.
    """
    lines = []
    if old.kind != new.kind:
        lines.append(f"kind: {old.kind} → {new.kind}")
    if old.pairs_manifest_sha256 != new.pairs_manifest_sha256:
        lines.append(
            f"pair set: {old.pairs} (manifest {str(old.pairs_manifest_sha256)[:12]}) → "
            f"{new.pairs} (manifest {str(new.pairs_manifest_sha256)[:12]})"
        )
    old_config, new_config = json.loads(json.dumps(old.config)), json.loads(json.dumps(new.config))
    for section in sorted(set(old_config) | set(new_config)):
        a, b = old_config.get(section) or {}, new_config.get(section) or {}
        for name in sorted(set(a) | set(b)):
            if section == "train" and name in _RESUMABLE_TRAIN_FIELDS:
                continue
            if name not in a and name in (defaults or {}).get(section, {}):
                if b.get(name) == json.loads(json.dumps(defaults[section][name])):
                    continue
            if a.get(name) != b.get(name):
                lines.append(f"{section}.{name}: {a.get(name)!r} → {b.get(name)!r}")
    return lines


def config_defaults(sections: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{section: {field: default}}`` of the dataclasses a preset's sections are made of.

    Parameters
    ----------
    sections : dict of str to dataclass instance
        E.g. ``preset.sections()``.
    """
    out: dict[str, dict[str, Any]] = {}
    for section, config in sections.items():
        out[section] = {}
        for item in dataclasses.fields(config):
            if item.default is not dataclasses.MISSING:
                out[section][item.name] = item.default
            elif item.default_factory is not dataclasses.MISSING:
                out[section][item.name] = item.default_factory()
    return out


# Trainer fields a resumed run may change: they affect logging, speed or length, not the model.
_RESUMABLE_TRAIN_FIELDS = frozenset(
    {
        "steps",
        "log_every",
        "checkpoint_every",
        "keep_last",
        "sample_every",
        "graceful_stop",
        "loss_figure",
        "tensorboard",
        "progress",
        "device",
        "num_workers",
        "compile",
    }
)
