"""Pair-set reading: PairDataset (memory-mapped shards) vs one ``.npz`` file per pair.

Writes a synthetic CIFAR-shaped float16 pair set of >= 2 GB with the format writer (no teacher
needed) into a temporary directory under /tmp, plus the first ``--npz-files`` of its pairs as one
``.npz`` per pair (``arr_0 = [noise, sample]``, the layout of existing releases), then prints:

* reading throughput (pairs/s, float32 torch tensors out) of the per-file layout, of
  ``PairDataset`` item by item, of ``PairDataset.get_batch`` and of a ``DataLoader`` with a
  ``BatchSampler`` — all on the same random pairs, with a warm page cache — and the ratios;
* the peak resident memory of a child process that iterates over the whole set (sequentially
  and in random batches), measured with psutil. Targets: >= 10x per-file; RSS < 1 GB.

Everything is deleted at the end. Run: ``python benchmarks/bench_pairs.py``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHAPE = (3, 32, 32)


def write_set(directory: Path, n: int, shard_size: int) -> float:
    from koopkit_diffusion.pairs import PairSetWriter, new_manifest

    manifest = new_manifest(
        count=n,
        shard_size=shard_size,
        shape=SHAPE,
        dtype="float16",
        label_dim=10,
        sigma_max=80.0,
        seed=None,
        teacher={"description": "synthetic benchmark pairs"},
        sampler=None,
        source="benchmark",
    )
    writer = PairSetWriter(directory, manifest)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((shard_size, *SHAPE)).astype(np.float16)
    start = time.perf_counter()
    for s in range(writer.n_shards):
        m = min(shard_size, n - s * shard_size)
        # Distinct content per shard without drawing 2 GB of random numbers.
        writer.write_shard(
            s,
            {
                "noise": np.roll(base[:m], s, axis=0),
                "sample": np.tanh(np.roll(base[:m], -s, axis=0)),
                "label": (np.arange(m) + s) % 10,
            },
        )
    return time.perf_counter() - start


def write_npz(directory: Path, dataset, count: int) -> None:
    directory.mkdir()
    size = dataset.manifest["shard_size"]
    for i in range(count):
        shard = dataset._shard(i // size)  # the stored float16 rows, as a release would hold them
        noise, sample = shard["noise"][i % size], shard["sample"][i % size]
        np.savez(directory / f"{i:06d}.npz", arr_0=np.stack([noise, sample]))


def rates(fns: dict, n_pairs: int, rounds: int) -> dict[str, float]:
    """Best pairs/s of each function over ``rounds`` round-robin passes (load hits all alike)."""
    best = dict.fromkeys(fns, float("inf"))
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return {name: n_pairs / seconds for name, seconds in best.items()}


def throughput(set_dir: Path, npz_dir: Path, count: int, batch: int, rounds: int) -> None:
    import torch
    from torch.utils.data import BatchSampler, DataLoader, SubsetRandomSampler

    from koopkit_diffusion.pairs import PairDataset

    ds = PairDataset(set_dir)
    order = np.random.default_rng(1).permutation(count)
    files = [npz_dir / f"{i:06d}.npz" for i in order]

    def per_file() -> None:
        for f in files:
            with np.load(f) as z:
                ends = z["arr_0"]
            (
                torch.from_numpy(ends[0].astype(np.float32)),
                torch.from_numpy(ends[1].astype(np.float32)),
            )

    def per_item() -> None:
        for i in order:
            ds[int(i)]

    def batched() -> None:
        for k in range(0, count, batch):
            ds.get_batch(order[k : k + batch])

    sampler = BatchSampler(SubsetRandomSampler(order.tolist()), batch, drop_last=False)
    loader = DataLoader(ds, sampler=sampler, batch_size=None)

    def loader_pass() -> None:
        for _ in loader:
            pass

    per_file()  # warm the page cache for both layouts
    batched()
    measured = rates(
        {
            f"per-file .npz ({count} files):": per_file,
            "PairDataset ds[i]:": per_item,
            f"PairDataset.get_batch({batch}):": batched,
            f"DataLoader+BatchSampler({batch}):": loader_pass,
        },
        count,
        rounds,
    )
    base = next(iter(measured.values()))
    for name, r in measured.items():
        print(f"{name:34s} {r:12,.0f} pairs/s  ({r / base:6.1f}x per-file)")


def rss_child(set_dir: str, batch: int, random_batches: int) -> None:
    """Iterate over the whole set; print peak RSS (psutil samples and ru_maxrss)."""
    import psutil

    from koopkit_diffusion.pairs import PairDataset

    mb = 1024**2
    proc = psutil.Process()
    ds = PairDataset(set_dir)
    baseline = proc.memory_info().rss
    import_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    peak = baseline
    start = time.perf_counter()
    for k in range(0, len(ds), batch):
        ds.get_batch(slice(k, k + batch))
        peak = max(peak, proc.memory_info().rss)
    seq = time.perf_counter() - start
    rng = np.random.default_rng(2)
    start = time.perf_counter()
    for _ in range(random_batches):
        ds.get_batch(rng.integers(len(ds), size=batch))
        peak = max(peak, proc.memory_info().rss)
    rand = time.perf_counter() - start
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"child: sequential pass over all {len(ds)} pairs {len(ds) / seq:,.0f} pairs/s, then "
        f"{random_batches} random batches of {batch} over the whole set "
        f"{random_batches * batch / rand:,.0f} pairs/s\n"
        f"peak RSS while iterating: {peak / mb:,.0f} MB (psutil after every batch), "
        f"ru_maxrss {maxrss / mb:,.0f} MB (after imports: RSS {baseline / mb:,.0f} MB, "
        f"ru_maxrss {import_peak / mb:,.0f} MB); target < 1024 MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=180_000, help="pairs (180000 = 2.2 GB)")
    parser.add_argument("--shard-size", type=int, default=10_000)
    parser.add_argument("--npz-files", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--random-batches", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="round-robin timing passes")
    parser.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child, args.batch, args.random_batches)
        return

    from koopkit_diffusion.pairs import PairDataset, info

    root = Path(tempfile.mkdtemp(prefix="bench_pairs_", dir="/tmp"))
    try:
        set_dir = root / "set"
        seconds = write_set(set_dir, args.n, args.shard_size)
        size = info(set_dir)["bytes"]
        print(
            f"set: {args.n} CIFAR-shaped float16 pairs (+labels), {size / 1e9:.2f} GB in "
            f"{-(-args.n // args.shard_size)} shards, written in {seconds:.1f} s"
        )
        npz_dir = root / "npz"
        write_npz(npz_dir, PairDataset(set_dir), args.npz_files)
        throughput(set_dir, npz_dir, args.npz_files, args.batch, args.rounds)
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--rss-child",
                str(set_dir),
                "--batch",
                str(args.batch),
                "--random-batches",
                str(args.random_batches),
            ],
            check=True,
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
