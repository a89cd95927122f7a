"""koopkit_diffusion: one-step diffusion generators with the Koopman Distillation Model.

Built on :mod:`koopkit` (never the reverse): an EDM teacher, offline noise→sample pair
datasets, the KDM model and its trainer, evaluation metrics and latent-space analysis.
Submodules are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "edm",
    "nets",
    "data",
    "teacher",
    "pairs",
    "kdm",
    "baseline",
    "kdm_run",
    "quickstart",
    "losses",
    "trainer",
    "metrics",
    "inception",
    "classifier",
    "analysis",
    "analysis_plots",
    "evaluation",
    "run_evaluation",
    "presets",
    "cli",
}

__all__ = sorted(_SUBMODULES)


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"koopkit_diffusion.{name}")
    raise AttributeError(f"module 'koopkit_diffusion' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
