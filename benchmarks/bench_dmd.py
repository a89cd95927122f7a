"""Benchmark: koopkit.DMD against pydmd.DMD on tall, low-rank, noisy data.

Data (per size): T snapshots of n features from a rank-r oscillatory linear system (r/2
conjugate eigenvalue pairs, |lambda| in [0.995, 1]) plus white noise of standard deviation 1e-3.
Both libraries fit the same array (PyDMD gets its transpose, prepared outside the timing) at
the same rank, exact DMD modes, in the same process: PyDMD as ``DMD(svd_rank=r, exact=True)``
with everything else at its defaults, koopkit as ``DMD(rank=r)`` and with every SVD path.
The whole ``fit`` is timed; fits of all contenders are interleaved repeat by repeat (so load
from other processes hits all of them alike), in an order that rotates from repeat to repeat (so
no contender always runs right after another), and the median is reported. Printed: the largest
eigenvalue error against the true eigenvalues (after pairing), the speed ratio
``t(pydmd) / t(koopkit)``, and the eigenvalue-error ratio ``err(koopkit) / err(pydmd)``.

``--clock cpu`` times process CPU time instead of wall time: on a machine shared with other
jobs it is far less sensitive to their load (run it with ``OPENBLAS_NUM_THREADS=1``, since idle
BLAS threads spin and would count).

Run:  python benchmarks/bench_dmd.py [--sizes 20000x500:20,12000x420:16] [--repeats 9]
      [--clock wall|cpu] [--json results.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np
from tqdm import tqdm

import koopkit
from koopkit.io import recorded_command

TARGET_SPEEDUP = 15.0
TARGET_ERROR_RATIO = 1.1


def make_data(n_features: int, n_snapshots: int, rank: int, noise: float, seed: int = 0):
    """Snapshots as rows, shape (n_snapshots, n_features), and the true eigenvalues (rank,)."""
    rng = np.random.default_rng(seed)
    n_pairs = rank // 2
    modulus = rng.uniform(0.995, 1.0, n_pairs)
    phase = np.linspace(0.05, 2.8, n_pairs) + rng.uniform(-0.02, 0.02, n_pairs)
    lam = modulus * np.exp(1j * phase)
    t = np.arange(n_snapshots)
    dynamics = lam[None, :] ** t[:, None]  # (T, n_pairs)
    modes = rng.normal(size=(n_pairs, n_features)) + 1j * rng.normal(size=(n_pairs, n_features))
    X = 2 * np.real(dynamics @ modes) + noise * rng.normal(size=(n_snapshots, n_features))
    return X, np.concatenate([lam, lam.conj()])


def eigenvalue_error(estimated, true) -> float:
    """Largest |lambda_est - lambda_true| after greedy nearest pairing."""
    remaining = list(np.asarray(estimated))
    worst = 0.0
    for lam in true:
        j = int(np.argmin([abs(e - lam) for e in remaining]))
        worst = max(worst, abs(remaining.pop(j) - lam))
    return worst


def parse_sizes(text: str) -> list[tuple[int, int, int]]:
    """'20000x500:20,12000x420:16' -> [(n_features, n_snapshots, rank), ...]."""
    sizes = []
    for item in text.split(","):
        shape, rank = item.split(":")
        n_features, n_snapshots = shape.split("x")
        sizes.append((int(n_features), int(n_snapshots), int(rank)))
    return sizes


def run_size(n_features, n_snapshots, rank, noise, repeats, clock=time.perf_counter) -> dict:
    import pydmd

    X, true = make_data(n_features, n_snapshots, rank, noise)
    X_columns = np.ascontiguousarray(X.T)  # PyDMD's layout, prepared outside the timing

    def fit_pydmd():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyDMD warns about the condition number
            return pydmd.DMD(svd_rank=rank, exact=True).fit(X_columns)

    contenders = {"pydmd DMD(svd_rank, exact=True)": (fit_pydmd, "eigs")}
    for path in ["auto", "gram", "randomized", "svd"]:
        contenders[f"koopkit DMD(svd={path!r})"] = (
            lambda path=path: koopkit.DMD(rank=rank, svd=path).fit(X),
            "eigenvalues_",
        )
    times = {name: [] for name in contenders}
    errors = {}
    for name, (fit, attr) in contenders.items():  # warm-up, and the accuracy
        errors[name] = eigenvalue_error(getattr(fit(), attr), true)
    names = list(contenders)
    for k in tqdm(range(repeats), desc=f"{n_features}x{n_snapshots}", leave=False):
        # the order rotates from repeat to repeat: a fit measured right after PyDMD's large
        # allocations runs on colder caches and fresh pages (in a fixed order, the identical
        # code of svd='auto' and svd='gram' measured 3 % apart by position alone)
        for name in names[k % len(names) :] + names[: k % len(names)]:
            fit = contenders[name][0]
            start = clock()
            fit()
            times[name].append(clock() - start)
    ref = "pydmd DMD(svd_rank, exact=True)"
    ref_time = statistics.median(times[ref])
    rows = {}
    for name in contenders:
        seconds = statistics.median(times[name])
        rows[name] = {
            "median_s": seconds,
            "max_eigenvalue_error": errors[name],
            "speedup": ref_time / seconds,
            "error_ratio": errors[name] / errors[ref],
        }
    return rows


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000x500:20,12000x420:16")
    parser.add_argument("--noise", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    parser.add_argument("--json", default=None, help="also write the results here")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{os.cpu_count()} CPUs (OPENBLAS_NUM_THREADS={threads}), load average {load:.2f} at "
        f"start; noise {args.noise:g}; median {args.clock} time of {args.repeats} interleaved "
        "fits"
    )
    results = {}
    for n_features, n_snapshots, rank in parse_sizes(args.sizes):
        rows = run_size(n_features, n_snapshots, rank, args.noise, args.repeats, clock)
        key = f"{n_snapshots} snapshots x {n_features} features, rank {rank}"
        results[key] = rows
        print(f"\n{key}")
        print(
            f"{'method':<34}{'median s':>10}{'max |dlambda|':>15}{'speed-up':>10}{'err ratio':>11}"
        )
        for name, row in rows.items():
            print(
                f"{name:<34}{row['median_s']:>10.4f}{row['max_eigenvalue_error']:>15.3e}"
                f"{row['speedup']:>9.1f}x{row['error_ratio']:>11.3f}"
            )
        auto = rows["koopkit DMD(svd='auto')"]
        verdict = (
            "PASS"
            if auto["speedup"] >= TARGET_SPEEDUP and auto["error_ratio"] <= TARGET_ERROR_RATIO
            else "FAIL"
        )
        print(
            f"svd='auto' vs pydmd: {auto['speedup']:.1f}x faster, eigenvalue error ratio "
            f"{auto['error_ratio']:.3f} (target >= {TARGET_SPEEDUP:g}x, <= "
            f"{TARGET_ERROR_RATIO:g}): {verdict}"
        )
    load_end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load_end:.2f} at the end")
    if args.json:
        with open(args.json, "w") as f:
            record = {
                "command": recorded_command(["benchmarks/bench_dmd.py", *argv]),
                "clock": args.clock,
                "openblas_num_threads": threads,
                "load_average": [load, load_end],
                "results": results,
            }
            json.dump(record, f, indent=2)
    return results


if __name__ == "__main__":
    main()
