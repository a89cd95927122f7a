"""Reading pair sets: a memory-mapped torch ``Dataset``, verification and a summary."""

from __future__ import annotations

import bisect
import mmap
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .format import file_sha256, read_manifest

__all__ = ["PairDataset", "VerifyReport", "info", "verify"]

_STATM = Path("/proc/self/statm")
# Item reads check the resident memory once every this many reads (batched reads every time).
_ITEM_CHECK_EVERY = 64


def _resident_file_bytes() -> int | None:
    """Resident file-backed memory of this process (Linux ``statm``), or None where unknown."""
    try:
        return int(_STATM.read_bytes().split()[2]) * mmap.PAGESIZE
    except (OSError, IndexError, ValueError):
        return None


def _check_header(
    path: Path, entry: dict[str, Any], key: str, manifest: dict[str, Any]
) -> tuple[str, int]:
    """``(problem, data_offset)``: the problem is empty if size and ``.npy`` header match."""
    if not path.is_file():
        return f"{path.name}: missing", 0
    size = path.stat().st_size
    if size != entry["files"][key]["bytes"]:
        expected = entry["files"][key]["bytes"]
        return f"{path.name}: {size} bytes, manifest says {expected} (truncated?)", 0
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = getattr(np.lib.format, f"read_array_header_{version[0]}_{version[1]}")
            shape, fortran, dtype = read(f)
            offset = f.tell()
    except ValueError as err:
        return f"{path.name}: unreadable .npy header ({err})", 0
    expected = (entry["count"], *manifest["shapes"][key])
    if shape != expected or fortran or dtype != np.dtype(manifest["dtypes"][key]):
        problem = (
            f"{path.name}: array {shape} {dtype} (fortran={fortran}), "
            f"manifest says {expected} {manifest['dtypes'][key]}"
        )
        return problem, 0
    return "", offset


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
        """Names of the files (or missing shards) with a problem."""
        return [p.split(":", 1)[0] for p in self.problems]

    def __str__(self) -> str:
        head = f"{self.directory}: {self.count} pairs in {self.n_shards} shards, "
        if self.ok:
            return head + f"{self.checked} files verified, OK"
        return head + f"{len(self.problems)} problem(s):\n  " + "\n  ".join(self.problems)


def verify(directory: str | os.PathLike, checksums: bool = True) -> VerifyReport:
    """Check a pair set against its manifest: completeness, sizes, headers and sha256.

    Parameters
    ----------
    directory : path
        The pair set.
    checksums : bool, default True
        Also recompute every shard's sha256 (reads every byte once, in chunks).

    Returns
    -------
    VerifyReport
        ``report.ok`` is false if any shard is missing, truncated, altered or of the wrong shape;
        ``report.problems`` names each bad file.
    """
    directory = Path(directory)
    manifest = read_manifest(directory)
    report = VerifyReport(str(directory), manifest["count"], manifest["n_shards"], 0)
    listed = {s["index"] for s in manifest["shards"]}
    for missing in sorted(set(range(manifest["n_shards"])) - listed):
        report.problems.append(f"shard {missing:05d}: not complete (resume the generation)")
    for entry in manifest["shards"]:
        for key in manifest["keys"]:
            path = directory / entry["files"][key]["name"]
            report.checked += 1
            problem, _ = _check_header(path, entry, key, manifest)
            if not problem and checksums and file_sha256(path) != entry["files"][key]["sha256"]:
                problem = f"{path.name}: sha256 differs from the manifest (altered)"
            if problem:
                report.problems.append(problem)
    return report


_verify_set = verify


def info(directory: str | os.PathLike) -> dict[str, Any]:
    """Summary of a pair set: its manifest without the shard list, plus progress and size.

    Returns
    -------
    dict
        Manifest fields, ``shards_complete`` and ``bytes`` (total of the complete shards).
    """
    manifest = read_manifest(directory)
    summary = {k: v for k, v in manifest.items() if k != "shards"}
    summary["shards_complete"] = len(manifest["shards"])
    summary["bytes"] = sum(f["bytes"] for s in manifest["shards"] for f in s["files"].values())
    return summary


class PairDataset(Dataset):
    """Memory-mapped pairs: ``ds[i] -> {"noise", "sample"[, "label"]}`` as torch tensors.

    Each shard file is memory-mapped (read-only ``mmap``, viewed as an array past its ``.npy``
    header, as ``numpy.load(mmap_mode="r")`` does) when first touched; nothing is read whole.
    Pages that a mapping has touched count in the process's resident memory (and a fault maps
    whole neighbourhoods of cached pages: kernel fault-around and large folios), so when the
    process's resident file-backed memory has grown by ``resident_limit_bytes`` since the last
    release (``/proc/self/statm``; elsewhere: bytes read), the dataset hands the mapped pages back
    to the OS (``madvise(MADV_DONTNEED)``; the data stays in the page cache). Resident memory
    thus stays bounded for a pass over a set of any size, in sequential or random order. Noise and
    sample come back as float32 (whatever the storage dtype), labels as int64.

    Batched reads: ``ds[indices]`` (a sequence, array, tensor or slice) and :meth:`get_batch`
    return ``{"noise": (B, *shape), "sample": (B, *shape)[, "label": (B,)]}`` in one vectorised
    read per shard. With a ``DataLoader`` use ``batch_size=None`` and a
    ``torch.utils.data.BatchSampler`` as the sampler, so each fetch is one batched read::

        sampler = BatchSampler(RandomSampler(ds), batch_size=4096, drop_last=True)
        loader = DataLoader(ds, sampler=sampler, batch_size=None)

    Parameters
    ----------
    directory : path
        A complete pair set.
    verify : bool, default False
        Recompute every sha256 first (reads the whole set once). Without it, the size and
        ``.npy`` header of each shard are still checked when it is opened.
    resident_limit_bytes : int, default 256 MiB
        Growth of resident mapped memory after which the mapped pages are released.

    Raises
    ------
    ValueError
        If the set is incomplete, or a shard is missing, truncated, altered (with ``verify``) or
        does not match the manifest; the message names the shard file.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        verify: bool = False,
        resident_limit_bytes: int = 256 * 2**20,
    ) -> None:
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        if resident_limit_bytes < 1:
            raise ValueError(f"resident_limit_bytes must be >= 1, got {resident_limit_bytes}")
        self.resident_limit_bytes = int(resident_limit_bytes)
        if not self.manifest["complete"]:
            done, total = len(self.manifest["shards"]), self.manifest["n_shards"]
            raise ValueError(
                f"{self.directory} is incomplete ({done} of {total} shards); resume the generation"
            )
        if verify:
            report = _verify_set(self.directory)
            if not report.ok:
                raise ValueError(f"pair set failed verification: {report}")
        self.keys: list[str] = list(self.manifest["keys"])
        self._shards = self.manifest["shards"]
        for entry in self._shards:  # sizes only (one stat per file); headers when opened
            for key in self.keys:
                path = self.directory / entry["files"][key]["name"]
                size = path.stat().st_size if path.is_file() else None
                if size != entry["files"][key]["bytes"]:
                    found = "missing" if size is None else f"{size} bytes"
                    raise ValueError(
                        f"corrupt pair set {self.directory}: {path.name}: {found}, manifest says "
                        f"{entry['files'][key]['bytes']} bytes (truncated or replaced?)"
                    )
        self._starts = [s["start"] for s in self._shards]
        self._row_bytes = sum(
            np.dtype(self.manifest["dtypes"][k]).itemsize
            * int(np.prod(self.manifest["shapes"][k], dtype=np.int64))
            for k in self.keys
        )
        self._open: dict[int, dict[str, np.ndarray]] = {}
        self._maps: list[mmap.mmap] = []
        self._read_bytes = 0
        self._reads = 0
        self._baseline = _resident_file_bytes() or 0

    @property
    def sigma_max(self) -> float:
        """σmax: the student's input is ``sigma_max · noise``."""
        return float(self.manifest["noise_scale"])

    @property
    def sigma_data(self) -> float | None:
        """The teacher's ``sigma_data`` when the manifest records it (else ``None``)."""
        value = (self.manifest.get("teacher") or {}).get("sigma_data")
        return None if value is None else float(value)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one noise / sample."""
        return tuple(self.manifest["shapes"]["noise"])

    @property
    def label_dim(self) -> int:
        """Number of classes (0 when unconditional)."""
        return int(self.manifest["label_dim"])

    def __len__(self) -> int:
        return int(self.manifest["count"])

    def __getstate__(self) -> dict[str, Any]:
        # Maps are not picklable; DataLoader workers open their own.
        return {**self.__dict__, "_open": {}, "_maps": [], "_read_bytes": 0}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _baseline=_resident_file_bytes() or 0)

    def _shard(self, index: int) -> dict[str, np.ndarray]:
        if index in self._open:
            return self._open[index]
        entry = self._shards[index]
        arrays = {}
        for key in self.keys:
            path = self.directory / entry["files"][key]["name"]
            problem, offset = _check_header(path, entry, key, self.manifest)
            if problem:
                raise ValueError(f"corrupt pair set {self.directory}: {problem}")
            with open(path, "rb") as f:
                mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            shape = (entry["count"], *self.manifest["shapes"][key])
            dtype = np.dtype(self.manifest["dtypes"][key])
            count = int(np.prod(shape, dtype=np.int64))
            arrays[key] = np.frombuffer(mapped, dtype, count, offset).reshape(shape)
            self._maps.append(mapped)
        self._open[index] = arrays
        return arrays

    def _account(self, rows: int, batched: bool) -> None:
        self._read_bytes += rows * self._row_bytes
        self._reads += 1
        if not batched and self._reads % _ITEM_CHECK_EVERY:
            return
        resident = _resident_file_bytes()
        grown = self._read_bytes if resident is None else resident - self._baseline
        if grown > self.resident_limit_bytes:
            self.release_pages()

    def release_pages(self) -> None:
        """Hand the mapped pages back to the OS (the data stays in the page cache)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            for mapped in self._maps:
                mapped.madvise(mmap.MADV_DONTNEED)
        self._read_bytes = 0
        self._baseline = _resident_file_bytes() or 0

    def _locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"pair index {i} out of range for {n} pairs")
        i %= n
        s = bisect.bisect_right(self._starts, i) - 1
        return s, i - self._starts[s]

    def __getitem__(self, index: Any) -> dict[str, torch.Tensor]:
        if isinstance(index, (int, np.integer)) or (
            isinstance(index, torch.Tensor) and index.ndim == 0
        ):
            s, j = self._locate(int(index))
            arrays = self._shard(s)
            self._account(1, batched=False)
            return {k: self._to_tensor(k, np.array(arrays[k][j])) for k in self.keys}
        return self.get_batch(index)

    def get_batch(self, indices: Sequence[int] | np.ndarray | torch.Tensor | slice) -> dict:
        """Read many pairs at once.

        Parameters
        ----------
        indices : sequence of int, ndarray, tensor or slice
            Pair indices (any order, repeats allowed).

        Returns
        -------
        dict of torch.Tensor
            ``noise`` and ``sample`` of shape ``(B, *shape)`` float32, ``label`` ``(B,)`` int64,
            in the order of ``indices``.
        """
        if isinstance(indices, slice):
            idx = np.arange(len(self))[indices]
        else:
            idx = np.asarray(indices.cpu() if isinstance(indices, torch.Tensor) else indices)
        idx = idx.astype(np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"pair indices must lie in [-{n}, {n}) for {n} pairs")
        idx %= max(n, 1)
        shard_of = np.searchsorted(self._starts, idx, side="right") - 1
        # Rows are cast to the output dtypes while they are gathered (numpy, one thread: torch's
        # threaded cast stalls when the cores are busy, e.g. with DataLoader workers).
        out = {
            k: np.empty((idx.size, *self.manifest["shapes"][k]), self._OUT_DTYPES[k])
            for k in self.keys
        }
        order = np.argsort(shard_of, kind="stable")
        bounds = np.flatnonzero(np.diff(shard_of[order])) + 1
        for group in np.split(order, bounds) if idx.size else []:
            s = int(shard_of[group[0]])
            local = idx[group] - self._starts[s]
            arrays = self._shard(s)
            lo = int(local[0])
            # A contiguous run (sequential reading) is one slice of the map, no index array.
            contiguous = bool(np.all(np.diff(local) == 1))
            for k in self.keys:
                out[k][group] = arrays[k][lo : lo + local.size] if contiguous else arrays[k][local]
            # Checked per shard: a large scattered batch can touch much of every shard it visits.
            self._account(local.size, batched=True)
        return {k: torch.from_numpy(v) for k, v in out.items()}

    _OUT_DTYPES = {"noise": np.float32, "sample": np.float32, "label": np.int64}

    @classmethod
    def _to_tensor(cls, key: str, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(array, cls._OUT_DTYPES[key]))

    def __repr__(self) -> str:
        return (
            f"PairDataset({str(self.directory)!r}, n={len(self)}, shape={self.shape}, "
            f"dtype={self.manifest['dtypes']['noise']}, label_dim={self.label_dim}, "
            f"sigma_max={self.sigma_max})"
        )
