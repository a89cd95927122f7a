"""Analysis tools: finite-dimensional representability and spectral plots.

- :mod:`koopkit.analysis.closure`: exact (sympy) test of Koopman invariance of a span.
- :mod:`koopkit.analysis.residual`: numeric residual of the best linear one-step map in lifted
  or learned coordinates, as a function of their dimension.
- :mod:`koopkit.analysis.plotting`: eigenvalues against the unit circle, continuous-time spectra,
  mode amplitudes, and the one-figure overview ``plot_summary``.
"""

from __future__ import annotations

import importlib
from typing import Any

_ATTRIBUTES = {
    "koopman_closure": "koopkit.analysis.closure",
    "ClosureResult": "koopkit.analysis.closure",
    "grow_monomial_dictionary": "koopkit.analysis.closure",
    "linear_residual": "koopkit.analysis.residual",
    "residual_curve": "koopkit.analysis.residual",
    "ResidualCurve": "koopkit.analysis.residual",
    "plot_residual_curve": "koopkit.analysis.residual",
    "plot_eigenvalues": "koopkit.analysis.plotting",
    "plot_continuous_spectrum": "koopkit.analysis.plotting",
    "plot_amplitudes": "koopkit.analysis.plotting",
    "plot_summary": "koopkit.analysis.plotting",
}

__all__ = sorted(_ATTRIBUTES)


def __getattr__(name: str) -> Any:
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'koopkit.analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
