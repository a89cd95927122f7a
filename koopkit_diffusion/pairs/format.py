"""On-disk format of a pair set: the manifest, shard names, atomic writes and checksums.

A pair set is a directory::

    manifest.json      what the set is (see :func:`new_manifest`) and the sha256 of every shard
    noise-00000.npy    ε ~ N(0, I), unscaled: the student multiplies by ``sigma_max`` (σmax)
    sample-00000.npy   the teacher's output x0 for that ε
    label-00000.npy    integer class of the pair (conditional sets only)

Shard ``s`` holds pairs ``[s·shard_size, min((s+1)·shard_size, count))``. A shard is *complete*
once the manifest lists it; complete shards are never written again. Every file is written to a
temporary name and renamed into place (``os.replace``), so a reader or a resumed writer never
sees half a file. Under several processes (``torchrun``) the manifest is updated under an
exclusive ``fcntl`` lock on ``.manifest.lock``, and updates only ever add shards.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from koopkit.io import atomic_write, remove_temporary_files

try:  # POSIX only; on other systems one process writes a set at a time.
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None

FORMAT_NAME = "koopkit-pairs"
FORMAT_VERSION = 2
#: Versions :func:`read_manifest` reads (version 1 named σmax ``noise_scale``).
READABLE_VERSIONS = (1, 2)
MANIFEST_NAME = "manifest.json"
KEYS = ("noise", "sample", "label")
STORAGE_DTYPES = ("float32", "float16")
# Fields that may change while a set is being written; every other field identifies the set.
_PROGRESS_FIELDS = ("complete", "shards")

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MANIFEST_NAME",
    "PairSetWriter",
    "new_manifest",
    "read_manifest",
    "shard_name",
]


def shard_name(key: str, index: int) -> str:
    """File name of shard ``index`` of array ``key``: ``"noise-00000.npy"``."""
    if key not in KEYS:
        raise ValueError(f"key must be one of {KEYS}, got {key!r}")
    return f"{key}-{index:05d}.npy"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, fsync and ``os.replace``.

    Raises
    ------
    OSError
        With ``path`` as its file name (a full disk otherwise reports no file).
    """
    try:
        with atomic_write(path) as f:
            f.write(data)
    except OSError as err:
        if err.filename is not None:
            raise
        raise OSError(err.errno, err.strerror or str(err), str(path)) from err


def new_manifest(
    *,
    count: int,
    shard_size: int,
    shape: tuple[int, ...],
    dtype: str,
    label_dim: int,
    sigma_max: float,
    seed: int | None,
    teacher: Mapping[str, Any],
    sampler: Mapping[str, Any] | None,
    source: str,
) -> dict[str, Any]:
    """The manifest of a pair set before any shard is written.

    Parameters
    ----------
    count : int
        Number of pairs ``n``.
    shard_size : int
        Pairs per shard (the last shard may be shorter).
    shape : tuple of int
        Shape of one noise / sample, e.g. ``(2,)`` or ``(3, 32, 32)``.
    dtype : {"float32", "float16"}
        Storage dtype of ``noise`` and ``sample``; labels are stored as int64.
    label_dim : int
        Number of classes; 0 for an unconditional set (no ``label`` shards).
    sigma_max : float
        σmax: the noise the teacher started from is ``sigma_max · noise`` (a student's input).
    seed : int or None
        Base seed of the per-pair noise (``None`` for imported sets).
    teacher, sampler : mapping
        JSON-serialisable descriptions of the teacher and the sampler.
    source : str
        ``"generate"`` or ``"import:<format>"``.

    Returns
    -------
    dict
        The manifest, with ``complete = False`` and no shards yet.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if shard_size < 1:
        raise ValueError(f"shard_size must be >= 1, got {shard_size}")
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"dtype must be one of {STORAGE_DTYPES}, got {dtype!r}")
    if label_dim < 0:
        raise ValueError(f"label_dim must be >= 0, got {label_dim}")
    if not (math.isfinite(sigma_max) and sigma_max > 0):
        raise ValueError(f"sigma_max must be a positive finite number, got {sigma_max}")
    keys = ["noise", "sample"] + (["label"] if label_dim > 0 else [])
    shapes = {"noise": list(shape), "sample": list(shape), "label": []}
    dtypes = {"noise": dtype, "sample": dtype, "label": "int64"}
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "count": int(count),
        "shard_size": int(shard_size),
        "n_shards": -(-int(count) // int(shard_size)),
        "keys": keys,
        "shapes": {k: shapes[k] for k in keys},
        "dtypes": {k: dtypes[k] for k in keys},
        "label_dim": int(label_dim),
        "sigma_max": float(sigma_max),
        "seed": None if seed is None else int(seed),
        "teacher": dict(teacher),
        "sampler": None if sampler is None else dict(sampler),
        "source": source,
        "complete": False,
        "shards": [],
    }


def read_manifest(directory: str | os.PathLike) -> dict[str, Any]:
    """Read and check ``directory/manifest.json``.

    A version-1 manifest is returned with its ``noise_scale`` under the version-2 name
    ``sigma_max`` (its ``format_version`` stays 1: a writer does not continue such a set).

    Raises
    ------
    FileNotFoundError
        If there is no manifest.
    ValueError
        If the file is not a koopkit pair-set manifest of a known version.
    """
    path = Path(directory) / MANIFEST_NAME
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: a pair set is a directory with manifest.json and "
            "noise-*.npy / sample-*.npy shards"
        )
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise ValueError(f"{path} is not a {FORMAT_NAME} manifest (field 'format')")
    version = manifest.get("format_version")
    if version not in READABLE_VERSIONS:
        raise ValueError(
            f"{path} has format_version {version!r}; this koopkit reads versions "
            f"{', '.join(map(str, READABLE_VERSIONS))}"
        )
    if version == 1 and "noise_scale" in manifest:  # the name of sigma_max in version 1
        manifest["sigma_max"] = manifest.pop("noise_scale")
    return manifest


def shard_bounds(manifest: Mapping[str, Any], index: int) -> tuple[int, int]:
    """``(start, stop)`` pair indices of shard ``index``."""
    size = manifest["shard_size"]
    return index * size, min((index + 1) * size, manifest["count"])


def _identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in manifest.items() if k not in _PROGRESS_FIELDS}


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    a, b = _identity(old), _identity(new)
    return [
        f"{key}: existing {a.get(key)!r}, requested {b.get(key)!r}"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def _array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


class PairSetWriter:
    """Writes the shards and the manifest of one pair set (used by generation and importers).

    Opening a directory that already holds a manifest continues that set when the manifest
    describes the same set (same fields apart from progress) and refuses otherwise, naming the
    fields that differ. Shards that the manifest lists as complete are skipped, never rewritten.

    Parameters
    ----------
    directory : path
        Output directory (created if missing).
    manifest : dict
        From :func:`new_manifest`.
    resume : bool, default True
        Continue a set found in ``directory``; with ``False`` a set that already has complete
        shards is an error.
    """

    def __init__(
        self, directory: str | os.PathLike, manifest: dict[str, Any], resume: bool = True
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._lock_path = self.directory / ".manifest.lock"
        with self._locked():
            path = self.directory / MANIFEST_NAME
            if path.exists():
                existing = read_manifest(self.directory)
                diff = _differences(existing, manifest)
                if diff:
                    raise ValueError(
                        f"{self.directory} holds a different pair set; refusing to write into it "
                        "(choose another directory). Differences: " + "; ".join(diff)
                    )
                if not resume and existing["shards"]:
                    raise FileExistsError(
                        f"{self.directory} already holds this pair set with complete shards; "
                        "pass resume=True to continue it or choose another directory"
                    )
                self.manifest = existing
            else:
                self.manifest = dict(manifest)
                atomic_write_bytes(path, _manifest_bytes(self.manifest))

    @property
    def n_shards(self) -> int:
        """Number of shards of the complete set."""
        return self.manifest["n_shards"]

    def completed(self) -> set[int]:
        """Indices of shards that the manifest on disk lists as complete."""
        return {s["index"] for s in read_manifest(self.directory)["shards"]}

    def write_shard(self, index: int, arrays: Mapping[str, np.ndarray]) -> dict[str, Any] | None:
        """Write shard ``index`` (all its keys) and record it in the manifest.

        Parameters
        ----------
        index : int
            Shard index in ``[0, n_shards)``.
        arrays : mapping
            ``{"noise": (m, *shape), "sample": (m, *shape)[, "label": (m,)]}`` with ``m`` the
            shard's pair count; cast to the storage dtypes.

        Returns
        -------
        dict or None
            The shard's manifest entry, or ``None`` when the shard was already complete.
        """
        if not 0 <= index < self.n_shards:
            raise ValueError(f"shard index must lie in [0, {self.n_shards}), got {index}")
        if index in self.completed():
            return None
        start, stop = shard_bounds(self.manifest, index)
        files = {}
        for key in self.manifest["keys"]:
            if key not in arrays:
                raise ValueError(f"shard {index} is missing array {key!r}")
            array = np.asarray(arrays[key]).astype(self.manifest["dtypes"][key], copy=False)
            expected = (stop - start, *self.manifest["shapes"][key])
            if array.shape != expected:
                raise ValueError(
                    f"shard {index} array {key!r} must have shape {expected}, got {array.shape}"
                )
            data = _array_bytes(array)
            name = shard_name(key, index)
            atomic_write_bytes(self.directory / name, data)
            files[key] = {
                "name": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
            }
        entry = {"index": index, "start": start, "count": stop - start, "files": files}
        self._record(entry)
        return entry

    def _record(self, entry: dict[str, Any]) -> None:
        with self._locked():
            manifest = read_manifest(self.directory)
            shards = {s["index"]: s for s in manifest["shards"]}
            shards.setdefault(entry["index"], entry)
            manifest["shards"] = [shards[i] for i in sorted(shards)]
            manifest["complete"] = len(shards) == manifest["n_shards"]
            atomic_write_bytes(self.directory / MANIFEST_NAME, _manifest_bytes(manifest))
            self.manifest = manifest
            if manifest["complete"]:
                # Nobody writes any more: drop temporaries left by interrupted writers, of any age.
                remove_temporary_files(self.directory, min_age_s=0.0)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if fcntl is None:
            yield
            return
        with open(self._lock_path, "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _manifest_bytes(manifest: Mapping[str, Any]) -> bytes:
    try:  # JSON has no Infinity or NaN: a manifest holding one could not be read by others
        text = json.dumps(manifest, indent=1, allow_nan=False)
    except ValueError as err:
        raise ValueError(
            f"the manifest holds a non-finite number ({err}); refusing to write it"
        ) from err
    return (text + "\n").encode()
