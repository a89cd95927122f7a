"""koopkit: Koopman operators for research code.

Linear estimators (DMD family, EDMD, kernel EDMD, generator EDMD), learnable Koopman
operators as torch modules, Koopman autoencoders and VAMPNets, spectral analysis, dynamical
systems with known answers, and tests of finite-dimensional representability.

Submodules and the main classes are imported lazily, so ``import koopkit`` stays cheap and
torch is only imported by the parts that need it.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "linalg",
    "dmd",
    "edmd",
    "dictionaries",
    "operators",
    "autoencoder",
    "spectrum",
    "systems",
    "analysis",
    "training",
    "interop",
    "io",
    "control",
    "delays",
    "optdmd",
    "rrr",
    "vamp",
    "model_selection",
    "gedmd",
    "finite_differences",
    "vampnet",
}

# public name -> module that defines it
_ATTRIBUTES = {
    "DMD": "koopkit.dmd",
    "EDMD": "koopkit.edmd",
    "KernelEDMD": "koopkit.edmd",
    "Spectrum": "koopkit.spectrum",
    "KoopmanAutoencoder": "koopkit.autoencoder",
    "mlp": "koopkit.autoencoder",
    "from_pydmd": "koopkit.interop",
    "DMDc": "koopkit.control",
    "EDMDc": "koopkit.control",
    "HankelDMD": "koopkit.delays",
    "OptDMD": "koopkit.optdmd",
    "BOPDMD": "koopkit.optdmd",
    "NotFittedError": "koopkit._base",
    "GeneratorEDMD": "koopkit.gedmd",
    "VAMPNet": "koopkit.vampnet",
}

__all__ = sorted(_SUBMODULES | set(_ATTRIBUTES))


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"koopkit.{name}")
    if name in _ATTRIBUTES:
        return getattr(importlib.import_module(_ATTRIBUTES[name]), name)
    raise AttributeError(f"module 'koopkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
