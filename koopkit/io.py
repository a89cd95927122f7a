"""Crash-safe file writes shared by every part of the project that saves state."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "write_json"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success, fsync it and rename it onto ``path``.

    A reader never sees a half-written file, and a crash (or an exception inside the block)
    leaves the previous content of ``path`` untouched; the temporary file is removed. Temporary
    files are named ``.<name>.tmp-<random>`` so that a writer killed mid-write leaves litter
    that is easy to recognise and clean.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder is created if missing.
    mode : {"wb", "w"}, default "wb"
        Binary or text.

    Yields
    ------
    file object
        The open temporary file.

    Examples
    --------
    >>> with atomic_write("out/state.json", "w") as f:  # doctest: +SKIP
    ...     json.dump(state, f)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(obj: Any, path: str | os.PathLike, *, sort_keys: bool = False) -> Path:
    """Write ``obj`` as indented JSON (two spaces, trailing newline) through :func:`atomic_write`.

    Parameters
    ----------
    obj : JSON-serialisable object
    path : str or os.PathLike
        Destination; its folder is created if missing. A failed write (for example an object
        that is not serialisable) leaves the previous file untouched.
    sort_keys : bool, default False

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    text = json.dumps(obj, indent=2, sort_keys=sort_keys) + "\n"  # serialise before opening
    with atomic_write(path, "w") as f:
        f.write(text)
    return path
