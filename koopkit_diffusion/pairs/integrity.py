"""Checking a pair set before it is used: manifest consistency, shard sha256 and values.

Three levels, from cheap to thorough:

* :func:`manifest_problems`: the manifest agrees with itself
  (count, shard list, starts, file names); no file is read;
* :func:`header_problem`: a shard file has the size and ``.npy`` header the manifest records
  (one ``stat`` and a few hundred bytes);
* :func:`content_problem`: its sha256 equals the manifest's and its values are usable (noise and
  samples finite, labels in ``[0, label_dim)``); reads every byte once, in chunks.

:func:`verify` runs all three over a set (``koopkit-diffusion pairs verify``).
:class:`~koopkit_diffusion.pairs.dataset.PairDataset` runs the first two when it opens a set and the
third on each shard the first time it reads it, remembering verified files in a
:class:`ChecksumCache` (by size and modification time) so that a resumed run does not hash
them again.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from koopkit.io import file_sha256, write_json

from .format import (
    MANIFEST_NAME,
    STORAGE_DTYPES,
    read_manifest,
    shard_bounds,
    shard_name,
)

__all__ = [
    "ChecksumCache",
    "VerifyReport",
    "content_problem",
    "header_problem",
    "info",
    "manifest_problems",
    "verify",
]

# Rows checked for finite values per chunk: bounds the temporary boolean array.
_VALUE_CHUNK_ELEMENTS = 1 << 22


_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _is_int(value: Any, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def manifest_problems(manifest: Mapping[str, Any]) -> list[str]:
    """What makes a manifest contradict itself; empty when it is consistent.

    Checks, without reading any shard: ``count``, ``shard_size`` and ``n_shards`` agree; the keys
    are ``noise``, ``sample`` (and ``label`` exactly when ``label_dim > 0``) with shapes and
    dtypes; ``sigma_max`` is a positive finite number; every shard entry has the index, start
    and count of its place (no overlap, no gap), the file names of its own index for every key
    (not another shard's) with a sha256 and a size; ``complete`` says whether every shard is
    listed.

    Parameters
    ----------
    manifest : mapping
        As :func:`read_manifest` returns it.

    Returns
    -------
    list of str
        One line per problem, each starting with ``"manifest.json: "``; lines about unusable
        top-level fields start with ``"manifest.json: field"``.
    """
    problems: list[str] = []

    def bad(text: str) -> None:
        problems.append(f"{MANIFEST_NAME}: {text}")

    for name in ("count", "shard_size", "n_shards"):
        if not _is_int(manifest.get(name), 1):
            bad(f"field {name!r} must be a positive integer, got {manifest.get(name)!r}")
    keys, label_dim = manifest.get("keys"), manifest.get("label_dim")
    if not _is_int(label_dim, 0):
        bad(f"field 'label_dim' must be a non-negative integer, got {label_dim!r}")
    elif keys != ["noise", "sample"] + (["label"] if label_dim else []):
        bad(f"field 'keys' is {keys!r}; label_dim={label_dim} needs noise, sample"
            + (", label" if label_dim else ""))  # fmt: skip
    for name in ("shapes", "dtypes"):
        table = manifest.get(name)
        if not isinstance(table, dict) or not isinstance(keys, list) or set(keys) - set(table):
            bad(f"field {name!r} must give every key in {keys!r}, got {table!r}")
    if not isinstance(manifest.get("shards"), list) or not isinstance(
        manifest.get("complete"), bool
    ):
        bad("field 'shards' must be a list and 'complete' a boolean")
    if problems:
        return problems
    shapes, dtypes = manifest["shapes"], manifest["dtypes"]
    for key in keys:
        shape = shapes[key]
        if not isinstance(shape, list) or not all(_is_int(d, 1) for d in shape):
            bad(f"shape of {key!r} must be a list of positive integers, got {shape!r}")
        allowed = ("int64",) if key == "label" else STORAGE_DTYPES
        if dtypes[key] not in allowed:
            bad(f"dtype of {key!r} must be one of {allowed}, got {dtypes[key]!r}")
    if shapes["noise"] != shapes["sample"]:
        bad(f"noise shape {shapes['noise']} differs from sample shape {shapes['sample']}")
    scale = manifest.get("sigma_max")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        bad(f"field 'sigma_max' must be a positive finite number, got {scale!r}")
    count, size, n_shards = manifest["count"], manifest["shard_size"], manifest["n_shards"]
    needed = -(-count // size)
    if n_shards != needed:
        bad(f"n_shards is {n_shards}, but {count} pairs in shards of {size} need {needed}")
        return problems
    seen: set[int] = set()
    last = -1
    for position, entry in enumerate(manifest["shards"]):
        index = entry.get("index") if isinstance(entry, dict) else None
        if not _is_int(index, 0) or index >= n_shards:
            bad(f"shard entry {position} has index {index!r}, expected 0 to {n_shards - 1}")
            continue
        where = f"shard {index:05d}"
        if index in seen:
            bad(f"{where} is listed twice")
        elif index < last:
            bad(f"{where} is listed after shard {last:05d} (entries must be in index order)")
        seen.add(index)
        last = max(last, index)
        start, stop = shard_bounds(manifest, index)
        if entry.get("start") != start:
            bad(f"{where} starts at {entry.get('start')!r}, expected {start} (index × shard_size)")
        if entry.get("count") != stop - start:
            bad(f"{where} holds {entry.get('count')!r} pairs, expected {stop - start}")
        files = entry.get("files")
        if not isinstance(files, dict):
            bad(f"{where} has no 'files' table")
            continue
        for extra in sorted(set(files) - set(keys)):
            bad(f"{where} lists a file for {extra!r}, which is not one of the keys {keys}")
        for key in keys:
            file = files.get(key)
            if not isinstance(file, dict):
                bad(f"{where} has no {key!r} file")
                continue
            expected = shard_name(key, index)
            if file.get("name") != expected:
                bad(f"{where} names {file.get('name')!r} as its {key!r} file, expected {expected} "
                    "(an entry pointing at another shard's file)")  # fmt: skip
            if not isinstance(file.get("sha256"), str) or not _SHA256.match(file["sha256"]):
                bad(f"{where} {key!r} file has no valid sha256")
            if not _is_int(file.get("bytes"), 0):
                bad(f"{where} {key!r} file has no valid size ('bytes')")
    if manifest["complete"] != (len(seen) == n_shards):
        state = "complete" if manifest["complete"] else "incomplete"
        bad(f"says {state} but lists {len(seen)} of {n_shards} shards")
    return problems


def header_problem(
    path: Path, entry: Mapping[str, Any], key: str, manifest: Mapping[str, Any]
) -> tuple[str, int]:
    """``(problem, data_offset)``: the problem is empty when size and ``.npy`` header match.

    Parameters
    ----------
    path : Path
        The shard file of array ``key`` of the manifest entry ``entry``.
    entry : mapping
        The shard's manifest entry (``start``, ``count``, ``files``).
    key : {"noise", "sample", "label"}
    manifest : mapping

    Returns
    -------
    problem : str
        ``"<file name>: <what is wrong>"`` or ``""``.
    data_offset : int
        Byte offset of the array data (0 when there is a problem).
    """
    if not path.is_file():
        return f"{path.name}: missing", 0
    size = path.stat().st_size
    expected_size = entry["files"][key]["bytes"]
    if size != expected_size:
        return f"{path.name}: {size} bytes, manifest says {expected_size} (truncated?)", 0
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = getattr(np.lib.format, f"read_array_header_{version[0]}_{version[1]}")
            shape, fortran, dtype = read(f)
            offset = f.tell()
    except (ValueError, AttributeError) as err:
        return f"{path.name}: unreadable .npy header ({err})", 0
    expected = (entry["count"], *manifest["shapes"][key])
    if shape != expected or fortran or dtype != np.dtype(manifest["dtypes"][key]):
        problem = (
            f"{path.name}: array {shape} {dtype} (fortran={fortran}), "
            f"manifest says {expected} {manifest['dtypes'][key]}"
        )
        return problem, 0
    return "", offset


def content_problem(
    path: Path,
    entry: Mapping[str, Any],
    key: str,
    manifest: Mapping[str, Any],
    offset: int,
    checksum: bool = True,
) -> str:
    """Check a shard file's sha256 against the manifest and its values; ``""`` when both pass.

    Call it after :func:`header_problem` (which gives ``offset``). Noise and samples must be
    finite, labels must lie in ``[0, label_dim)``.

    Parameters
    ----------
    path : Path
    entry : mapping
        The shard's manifest entry.
    key : {"noise", "sample", "label"}
    manifest : mapping
    offset : int
        Byte offset of the array data.
    checksum : bool, default True
        Compare the sha256 (else only the values).

    Returns
    -------
    str
        ``"<file name>: <what is wrong>"`` or ``""``.
    """
    if checksum and file_sha256(path) != entry["files"][key]["sha256"]:
        return f"{path.name}: sha256 differs from the manifest (altered)"
    shape = (entry["count"], *manifest["shapes"][key])
    array = np.memmap(path, np.dtype(manifest["dtypes"][key]), "r", offset, shape)
    try:
        flat = array.reshape(-1)
        for lo in range(0, flat.size, _VALUE_CHUNK_ELEMENTS):
            chunk = flat[lo : lo + _VALUE_CHUNK_ELEMENTS]
            if key == "label":
                bad = (chunk < 0) | (chunk >= manifest["label_dim"])
                what = f"labels outside [0, {manifest['label_dim']})"
            else:
                bad = ~np.isfinite(chunk)
                what = "NaN or Inf values"
            if bad.any():
                row = (lo + int(np.argmax(bad))) // max(1, int(np.prod(shape[1:])))
                return f"{path.name}: {what} (first in pair {entry['start'] + row})"
    finally:
        del array
    return ""


@dataclass
class VerifyReport:
    """Result of :func:`verify`.

    Attributes
    ----------
    directory : str
    count : int
        Pairs the manifest promises.
    n_shards : int
        Shards of the complete set.
    checked : int
        Shard files checked.
    problems : list of str
        One line per problem, each starting with the file (or shard) it concerns.
    """

    directory: str
    count: int
    n_shards: int
    checked: int
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def bad_files(self) -> list[str]:
        """Names of the files (or missing shards) with a problem, each once, in report order."""
        return list(dict.fromkeys(p.split(":", 1)[0] for p in self.problems))

    def __str__(self) -> str:
        head = f"{self.directory}: {self.count} pairs in {self.n_shards} shards, "
        if self.ok:
            return head + f"{self.checked} files verified, OK"
        return head + f"{len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)


def verify(directory: str | os.PathLike, checksums: bool = True) -> VerifyReport:
    """Check a pair set against its manifest: consistency, completeness, sizes, headers, sha256.

    Parameters
    ----------
    directory : path
        The pair set.
    checksums : bool, default True
        Also recompute every shard's sha256 and check its values (finite noise and samples,
        labels in range); reads every byte once, in chunks.

    Returns
    -------
    VerifyReport
        ``report.ok`` is false if the manifest contradicts itself (count, starts, shard list,
        file names), or any shard is missing, truncated, altered, of the wrong shape or holds
        NaN/Inf; ``report.problems`` names each bad file.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    problems = manifest_problems(manifest)
    report = VerifyReport(
        str(directory), manifest.get("count", -1), manifest.get("n_shards", -1), 0, problems
    )
    if any(p.startswith(f"{MANIFEST_NAME}: field") for p in problems):
        return report  # the manifest's own fields are unusable: shards cannot be located
    listed = {s.get("index") for s in manifest["shards"] if isinstance(s, dict)}
    if not manifest["complete"]:
        for missing in sorted(set(range(manifest["n_shards"])) - listed):
            report.problems.append(f"shard {missing:05d}: not complete (resume the generation)")
    for entry in manifest["shards"]:
        for key in manifest["keys"]:
            if not _well_formed(entry, key):
                continue  # already reported by manifest_problems
            path = directory / entry["files"][key]["name"]
            report.checked += 1
            problem, offset = header_problem(path, entry, key, manifest)
            if not problem and checksums:
                problem = content_problem(path, entry, key, manifest, offset)
            if problem:
                report.problems.append(problem)
    return report


def _well_formed(entry: Any, key: str) -> bool:
    files = entry.get("files") if isinstance(entry, dict) else None
    file = files.get(key) if isinstance(files, dict) else None
    return (
        isinstance(file, dict)
        and {"name", "sha256", "bytes"} <= set(file)
        and isinstance(entry.get("count"), int)
        and isinstance(entry.get("start"), int)
        and Path(str(file["name"])).name == file["name"]
    )


def info(directory: str | os.PathLike) -> dict[str, Any]:
    """Summary of a pair set: its manifest without the shard list, plus progress and size.

    Returns
    -------
    dict
        Manifest fields, ``shards_complete``, ``bytes`` (total of the complete shards) and, when
        the manifest contradicts itself, ``problems`` (see :func:`manifest_problems`).
    """
    manifest = read_manifest(directory)
    summary = {k: v for k, v in manifest.items() if k != "shards"}
    shards = manifest.get("shards") if isinstance(manifest.get("shards"), list) else []
    summary["shards_complete"] = len(shards)
    summary["bytes"] = sum(
        f["bytes"]
        for s in shards
        if isinstance(s, dict) and isinstance(s.get("files"), dict)
        for f in s["files"].values()
        if isinstance(f, dict) and isinstance(f.get("bytes"), int)
    )
    problems = manifest_problems(manifest)
    if problems:
        summary["problems"] = problems
    return summary


class ChecksumCache:
    """Shard files already verified, remembered by path, size and modification time.

    A JSON file (kept in the run directory that reads the set): a file whose size, ``mtime_ns``
    and manifest sha256 are those recorded when it passed :func:`content_problem` is not read
    again. Rewriting a file changes its modification time, so it is verified again.

    Parameters
    ----------
    path : path or None
        The cache file; ``None`` keeps the cache in memory only.
    """

    FORMAT = 1

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = None if path is None else Path(path)
        self._entries: dict[str, dict[str, Any]] = {}
        if self.path is not None and self.path.is_file():
            try:
                stored = json.loads(self.path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError):
                stored = {}  # an unreadable cache only costs a re-verification
            if isinstance(stored, dict) and stored.get("format") == self.FORMAT:
                self._entries = dict(stored.get("files") or {})

    @staticmethod
    def _stamp(path: Path, sha256: str) -> dict[str, Any]:
        stat = path.stat()
        return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}

    def has(self, path: Path, sha256: str) -> bool:
        """Whether ``path`` passed verification as it is now (same size, mtime and sha256)."""
        entry = self._entries.get(str(path.resolve()))
        return entry is not None and entry == self._stamp(path, sha256)

    def add(self, paths: list[Path], sha256s: list[str]) -> None:
        """Record verified files and save the cache (atomically) when it has a path."""
        for path, sha256 in zip(paths, sha256s, strict=True):
            self._entries[str(path.resolve())] = self._stamp(path, sha256)
        if self.path is not None:
            write_json({"format": self.FORMAT, "files": self._entries}, self.path, sort_keys=True)
