"""Crash-safe file writes shared by every part of the project that saves state.

Files are created like ``open()`` creates them: a new file gets mode ``0o666`` minus the process
umask (so colleagues on a shared cluster can read results when the umask allows it), and
replacing an existing file keeps that file's permission bits.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import secrets
import shlex
import stat
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = [
    "atomic_write",
    "file_sha256",
    "recorded_command",
    "remove_temporary_files",
    "write_json",
]

# ".<name>.tmp-<16 hex digits>"; earlier versions used tempfile's 8 characters [a-z0-9_].
_TEMPORARY_NAME = re.compile(r"\..+\.tmp-(?:[0-9a-f]{16}|[a-z0-9_]{8})")
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}


def _create_temporary(path: Path) -> tuple[int, Path]:
    """Create ``.<name>.tmp-<random>`` beside ``path`` exclusively, with ``open()``'s mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = path.parent / f".{path.name}.tmp-{secrets.token_hex(8)}"
        try:
            # 0o666 is narrowed by the umask, exactly as for open(path, "w").
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:
            continue


def _named(error: OSError, path: Path) -> OSError:
    """The same error (errno and subclass) with the destination's name in the message."""
    return OSError(error.errno, f"{error.strerror or error} while writing", str(path))


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success, fsync it and rename it onto ``path``.

    A reader never sees a half-written file, and a crash (or an exception inside the block)
    leaves the previous content of ``path`` untouched; the temporary file is removed. Temporary
    files are named ``.<name>.tmp-<16 hex digits>`` so that a writer killed mid-write leaves
    litter that :func:`remove_temporary_files` recognises.

    The file gets the permissions ``open()`` would give it: ``0o666`` minus the umask for a new
    file, the existing file's mode when ``path`` is replaced.

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

    Raises
    ------
    OSError
        When the disk is full (or the quota or file-size limit is hit) while writing, or
        flushing, syncing or renaming fails: the message names ``path``.

    Examples
    --------
    >>> with atomic_write("out/state.json", "w") as f:  # doctest: +SKIP
    ...     json.dump(state, f)
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        if hasattr(os, "fchmod"):  # replacing a file keeps its mode, as open() does
            with contextlib.suppress(FileNotFoundError):
                os.fchmod(fd, stat.S_IMODE(os.stat(path).st_mode))
        with os.fdopen(fd, mode) as f:
            try:
                yield f
            except OSError as error:
                # The caller's own errors pass unchanged; a full disk is named.
                if error.errno in _NO_SPACE:
                    raise _named(error, path) from error
                raise
            try:
                f.flush()
                os.fsync(f.fileno())
            except OSError as error:
                raise _named(error, path) from error
        try:
            os.replace(tmp, path)
        except OSError as error:
            raise _named(error, path) from error
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_temporary_files(
    directory: str | os.PathLike, *, min_age_s: float = 60.0, recursive: bool = False
) -> list[Path]:
    """Remove the temporary files that :func:`atomic_write` calls left behind when killed.

    Only regular files whose names follow :func:`atomic_write`'s pattern
    ``.<name>.tmp-<random>`` are touched; nothing else is deleted.

    Parameters
    ----------
    directory : str or os.PathLike
        Folder to clean (a missing folder is nothing to clean).
    min_age_s : float, default 60.0
        Only files unmodified for at least this many seconds are removed, so a writer still
        running in another process keeps its file. Pass 0 when no other process writes there.
    recursive : bool, default False
        Also clean sub-folders.

    Returns
    -------
    list of Path
        The removed files, sorted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    candidates = directory.rglob(".*.tmp-*") if recursive else directory.glob(".*.tmp-*")
    now = time.time()
    removed = []
    for candidate in candidates:
        if not _TEMPORARY_NAME.fullmatch(candidate.name):
            continue
        try:
            info = candidate.lstat()
        except FileNotFoundError:
            continue
        if not stat.S_ISREG(info.st_mode) or now - info.st_mtime < min_age_s:
            continue
        with contextlib.suppress(FileNotFoundError):
            candidate.unlink()
            removed.append(candidate)
    return sorted(removed)


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


def file_sha256(path: str | os.PathLike, chunk_bytes: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in chunks of ``chunk_bytes`` (never the whole file at once).

    Parameters
    ----------
    path : path-like
    chunk_bytes : int, default 4 MiB

    Returns
    -------
    str
        64 hexadecimal digits.
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()


def recorded_command(argv: list[str] | None = None) -> str:
    """The command that ran this script, as a results file records it.

    ``python <script> <arguments>``: the interpreter is written ``python`` (not the absolute path
    of a virtual environment) and a script given by an absolute path inside the working directory
    is written relative to it, so the line can be pasted on another machine.

    Parameters
    ----------
    argv : list of str, optional
        Default ``sys.argv``.

    Returns
    -------
    str
    """
    args = list(sys.argv if argv is None else argv)
    if args:
        script = Path(args[0])
        if script.is_absolute():
            with contextlib.suppress(ValueError):
                script = script.relative_to(Path.cwd())
        args[0] = script.as_posix()
    return shlex.join(["python", *args])
