"""Restricted unpickling for the two formats that are pickles by nature.

CIFAR-10's python batches and EDM's network snapshots (``network-snapshot-*.pkl``) are Python
pickles. :func:`pickle.load` runs whatever callable a file names (``os.system``, ``exec``, the
module source that EDM's ``torch_utils.persistence`` embeds and executes). The unpickler here
resolves a global only through an explicit table that maps each admitted ``(module, name)`` to a
harmless callable or to an inert stand-in; every other global, and every persistent id, is
refused with :class:`UnsafePickleError` naming the file and what it asked for. Nothing the file
names is imported or executed.

The tables of admitted globals live with their formats: :data:`NUMPY_ARRAY_GLOBALS` (numpy array
and scalar reconstruction, enough for the CIFAR-10 batches) here,
:data:`koopkit_diffusion.teacher.edm_pickle.EDM_GLOBALS` for EDM snapshots.
"""

from __future__ import annotations

import codecs
import io
import pickle
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "NUMPY_ARRAY_GLOBALS",
    "RestrictedUnpickler",
    "UnsafePickleError",
    "restricted_loads",
]


class UnsafePickleError(ValueError):
    """A pickle asked for a global or persistent object outside the admitted table."""


def _numpy_internal(module: str, name: str) -> Any:
    # numpy 2 moved numpy.core to numpy._core; files written by either name the one they knew.
    core = getattr(np, "_core", None) or np.core
    return getattr(getattr(core, module), name)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes ``bytes`` under protocols 0-2 as codecs.encode(latin-1 text).
        ("_codecs", "encode"): codecs.encode,
    }
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = _numpy_internal(
            "multiarray", "_reconstruct"
        )
        table[(f"{core}.multiarray", "scalar")] = _numpy_internal("multiarray", "scalar")
        # Protocol 5 writes arrays as _frombuffer(bytes, dtype, shape, order).
        table[(f"{core}.numeric", "_frombuffer")] = _numpy_internal("numeric", "_frombuffer")
    return table


#: Globals a pickle of numpy arrays, scalars and plain containers needs: array, scalar and dtype
#: reconstruction (under the names of numpy 1 and 2, for every pickle protocol), and
#: ``_codecs.encode`` for bytes written by Python 3 under protocol 2.
NUMPY_ARRAY_GLOBALS: Mapping[tuple[str, str], Any] = _numpy_globals()


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves globals only through ``allowed``.

    Parameters
    ----------
    file : binary file
    allowed : mapping of (module, name) to object
        What each admitted global resolves to (the real harmless callable, or a stand-in).
    where : str
        Name of the file, for error messages.
    **kwargs
        ``encoding`` / ``errors`` of :class:`pickle.Unpickler` (``encoding="bytes"`` for
        Python 2 pickles such as the CIFAR-10 batches).

    Raises
    ------
    UnsafePickleError
        From :meth:`find_class` for a global outside ``allowed``, and from
        :meth:`persistent_load` for any persistent id.
    """

    def __init__(
        self, file: Any, allowed: Mapping[tuple[str, str], Any], where: str, **kwargs: Any
    ) -> None:
        super().__init__(file, **kwargs)
        self._allowed = allowed
        self._where = where

    def find_class(self, module: str, name: str) -> Any:
        """The admitted object for ``module.name``; anything else is refused."""
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise UnsafePickleError(
                f"{self._where}: refused to load the global {module}.{name}: this file format "
                "only admits "
                + ", ".join(sorted(f"{m}.{n}" for m, n in self._allowed))
                + "; the file is not what its name says (nothing in it was executed)"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        """Persistent ids are never part of the admitted formats."""
        raise UnsafePickleError(
            f"{self._where}: refused a persistent id {pid!r} (not part of this file format)"
        )


def restricted_loads(
    data: bytes,
    allowed: Mapping[tuple[str, str], Any],
    where: str,
    encoding: str = "ASCII",
) -> Any:
    """Unpickle ``data`` admitting only the globals of ``allowed``.

    Parameters
    ----------
    data : bytes
    allowed : mapping of (module, name) to object
    where : str
        Name of the source, for error messages.
    encoding : str, default "ASCII"
        How Python 2 ``str`` objects are decoded (``"bytes"`` keeps them as bytes).

    Returns
    -------
    object

    Raises
    ------
    UnsafePickleError
        For a refused global or persistent id.
    ValueError
        For a truncated or malformed pickle (naming ``where``).
    """
    try:
        return RestrictedUnpickler(io.BytesIO(data), allowed, where, encoding=encoding).load()
    except UnsafePickleError:
        raise
    except Exception as err:  # pickle raises many types for damaged streams
        raise ValueError(f"{where}: not a readable pickle ({type(err).__name__}: {err})") from err
