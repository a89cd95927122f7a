"""koopkit_diffusion: one-step diffusion generators with the Koopman Distillation Model.

Built on :mod:`koopkit` (never the reverse). Its wings follow the user guide's chapters, bottom
to top: :mod:`~koopkit_diffusion.safe_pickle` (the restricted unpickler of the formats that are
pickles by nature), :mod:`~koopkit_diffusion.edm` (preconditioning, loss, sampler, networks),
:mod:`~koopkit_diffusion.teacher`, :mod:`~koopkit_diffusion.data`,
:mod:`~koopkit_diffusion.pairs`, :mod:`~koopkit_diffusion.students`,
:mod:`~koopkit_diffusion.trainer`, :mod:`~koopkit_diffusion.evaluation` and
:mod:`~koopkit_diffusion.runs` (run directories, presets, the entry logic of the command line).

The main classes are importable from here, lazily (``import koopkit_diffusion`` stays light)::

    from koopkit_diffusion import KDM, KDMConfig, KDBaseline, Teacher, load_teacher
    from koopkit_diffusion import PairDataset, Trainer, TrainerConfig, get_preset
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:  # what the lazy names below resolve to, for IDEs and type checkers
    from .pairs import PairDataset
    from .runs import RunRecord, get_preset, load_generator, load_teacher, train_run
    from .students import KDM, KDBaseline, KDMConfig
    from .teacher import Teacher, TeacherConfig
    from .trainer import Trainer, TrainerConfig

_SUBMODULES = {
    "cli",
    "data",
    "edm",
    "evaluation",
    "students",
    "pairs",
    "runs",
    "safe_pickle",
    "teacher",
    "trainer",
}

# public name -> module that defines it
_ATTRIBUTES = {
    "KDM": "koopkit_diffusion.students",
    "KDMConfig": "koopkit_diffusion.students",
    "KDBaseline": "koopkit_diffusion.students",
    "Teacher": "koopkit_diffusion.teacher",
    "TeacherConfig": "koopkit_diffusion.teacher",
    "PairDataset": "koopkit_diffusion.pairs",
    "Trainer": "koopkit_diffusion.trainer",
    "TrainerConfig": "koopkit_diffusion.trainer",
    "get_preset": "koopkit_diffusion.runs",
    "load_teacher": "koopkit_diffusion.runs",
    "load_generator": "koopkit_diffusion.runs",
    "train_run": "koopkit_diffusion.runs",
    "RunRecord": "koopkit_diffusion.runs",
}

__all__ = [
    "KDBaseline",
    "KDM",
    "KDMConfig",
    "PairDataset",
    "RunRecord",
    "Teacher",
    "TeacherConfig",
    "Trainer",
    "TrainerConfig",
    "__version__",
    "cli",
    "data",
    "edm",
    "evaluation",
    "get_preset",
    "students",
    "load_generator",
    "load_teacher",
    "pairs",
    "runs",
    "safe_pickle",
    "teacher",
    "train_run",
    "trainer",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"koopkit_diffusion.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'koopkit_diffusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
