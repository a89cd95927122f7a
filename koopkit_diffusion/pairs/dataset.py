"""Reading pair sets: a memory-mapped torch ``Dataset`` that verifies what it reads."""

from __future__ import annotations

import bisect
import mmap
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .format import read_manifest
from .integrity import ChecksumCache, content_problem, header_problem, manifest_problems

__all__ = ["PairDataset"]

_STATM = Path("/proc/self/statm")
# Item reads check the resident memory once every this many reads (batched reads every time).
_ITEM_CHECK_EVERY = 64


def _resident_file_bytes() -> int | None:
    """Resident file-backed memory of this process (Linux ``statm``), or None where unknown."""
    try:
        return int(_STATM.read_bytes().split()[2]) * mmap.PAGESIZE
    except (OSError, IndexError, ValueError):
        return None


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
    verify : {"lazy", True, False}, default "lazy"
        ``"lazy"``: each shard's sha256 and values (finite noise and samples, labels in range)
        are checked the first time the shard is read, once per process (and once per run with
        ``checksum_cache``); ``True``: every shard is checked here, before anything is read;
        ``False``: only sizes and ``.npy`` headers (an explicit opt-out). The manifest's
        consistency (count, starts, shard list, file names) and every file's size are always
        checked when the set opens.
    resident_limit_bytes : int, default 256 MiB
        Growth of resident mapped memory after which the mapped pages are released.
    checksum_cache : path, optional
        A :class:`~koopkit_diffusion.pairs.integrity.ChecksumCache` file (e.g. in the run
        directory that trains on the set): files recorded there with their current size and
        modification time are not hashed again.

    Raises
    ------
    ValueError
        If the set is incomplete, its manifest contradicts itself, or a shard is missing,
        truncated, altered, holds NaN/Inf or does not match the manifest; the message names the
        shard file.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        verify: bool | str = "lazy",
        resident_limit_bytes: int = 256 * 2**20,
        checksum_cache: str | os.PathLike | None = None,
    ) -> None:
        if verify not in ("lazy", True, False):
            raise ValueError(f"verify must be 'lazy', True or False, got {verify!r}")
        self.directory = Path(directory)
        self.manifest = read_manifest(self.directory)
        if resident_limit_bytes < 1:
            raise ValueError(f"resident_limit_bytes must be >= 1, got {resident_limit_bytes}")
        self.resident_limit_bytes = int(resident_limit_bytes)
        problems = manifest_problems(self.manifest)
        if problems:
            raise ValueError(
                f"corrupt pair set {self.directory}: " + "; ".join(problems)
                + f" (run `koopkit-diffusion pairs verify {self.directory}`)"
            )  # fmt: skip
        if not self.manifest["complete"]:
            done, total = len(self.manifest["shards"]), self.manifest["n_shards"]
            raise ValueError(
                f"{self.directory} is incomplete ({done} of {total} shards); resume the generation"
            )
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
        self.verify_mode = verify
        self._cache = ChecksumCache(checksum_cache)
        self._verified: set[int] = set()
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
        if verify is True:
            self.verify_shards()

    def verify_shards(self, progress: bool = False) -> None:
        """Check every shard not yet verified (sha256 and values) now, in index order.

        Call it before handing the dataset to ``DataLoader`` workers: they inherit the verified
        shards instead of each checking them again. Does nothing with ``verify=False``.

        Parameters
        ----------
        progress : bool, default False
            Show a progress bar.

        Raises
        ------
        ValueError
            Naming the first bad shard file.
        """
        if self.verify_mode is False:
            return
        from tqdm.auto import tqdm

        todo = [s for s in range(len(self._shards)) if s not in self._verified]
        for index in tqdm(todo, desc="verify pairs", unit="shard", disable=not progress):
            self._verify_shard(index)

    def _verify_shard(self, index: int) -> None:
        entry = self._shards[index]
        paths, sha256s = [], []
        for key in self.keys:
            path = self.directory / entry["files"][key]["name"]
            sha256 = entry["files"][key]["sha256"]
            problem, offset = header_problem(path, entry, key, self.manifest)
            if not problem and not self._cache.has(path, sha256):
                problem = content_problem(path, entry, key, self.manifest, offset)
                paths.append(path)
                sha256s.append(sha256)
            if problem:
                raise ValueError(
                    f"corrupt pair set {self.directory}: {problem}; not training on it (check the "
                    f"whole set with `koopkit-diffusion pairs verify {self.directory}`)"
                )
        if paths:
            self._cache.add(paths, sha256s)
        self._verified.add(index)

    @property
    def sigma_max(self) -> float:
        """σmax: the student's input is ``sigma_max · noise``."""
        return float(self.manifest["sigma_max"])

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
        if self.verify_mode and index not in self._verified:
            self._verify_shard(index)
        entry = self._shards[index]
        arrays = {}
        for key in self.keys:
            path = self.directory / entry["files"][key]["name"]
            problem, offset = header_problem(path, entry, key, self.manifest)
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
