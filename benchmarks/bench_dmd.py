"""Benchmark: koopkit.DMD against pydmd.DMD on a large, low-rank, noisy data set.

Data: 500 snapshots of 20000 features from a rank-20 oscillatory linear system (10 conjugate
eigenvalue pairs, |lambda| in [0.995, 1]) plus white noise of standard deviation 1e-3.
Both libraries fit rank 20, in the same process; each fit is repeated ``--repeats`` times
(median reported). Printed: the largest eigenvalue error against the true eigenvalues (after
pairing) and the speed ratio ``t(pydmd) / t(koopkit)`` for every koopkit SVD path.

Run:  python benchmarks/bench_dmd.py [--repeats 3] [--n-features 20000] [--n-snapshots 500]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from tqdm import tqdm

import koopkit


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


def timed(fit, repeats: int):
    times, model = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        model = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), model


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-features", type=int, default=20000)
    parser.add_argument("--n-snapshots", type=int, default=500)
    parser.add_argument("--rank", type=int, default=20)
    parser.add_argument("--noise", type=float, default=1e-3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    import pydmd

    X, true = make_data(args.n_features, args.n_snapshots, args.rank, args.noise)
    X_columns = np.ascontiguousarray(X.T)  # PyDMD's layout, prepared outside the timing
    print(
        f"data: {args.n_snapshots} snapshots x {args.n_features} features, rank {args.rank}, "
        f"noise {args.noise:g}; median of {args.repeats} fits"
    )

    def fit_pydmd():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydmd.DMD(svd_rank=args.rank).fit(X_columns)

    configs = [("pydmd DMD(svd_rank)", fit_pydmd, "eigs")]
    for path in ["auto", "randomized", "gram", "svd"]:
        configs.append(
            (
                f"koopkit DMD(svd={path!r})",
                lambda path=path: koopkit.DMD(rank=args.rank, svd=path).fit(X),
                "eigenvalues_",
            )
        )
    results = {}
    for name, fit, attr in tqdm(configs, desc="fits", leave=False):
        seconds, model = timed(fit, args.repeats)
        results[name] = (seconds, eigenvalue_error(getattr(model, attr), true))
    ref_time, ref_err = results["pydmd DMD(svd_rank)"]
    print(f"{'method':<28}{'median s':>10}{'max |dlambda|':>16}{'speed-up':>10}")
    for name, (seconds, err) in results.items():
        print(f"{name:<28}{seconds:>10.3f}{err:>16.3e}{ref_time / seconds:>9.1f}x")
    auto_time, auto_err = results["koopkit DMD(svd='auto')"]
    ratio = ref_time / auto_time
    verdict = "PASS" if ratio >= 8 and auto_err <= ref_err * (1 + 1e-6) + 1e-12 else "FAIL"
    print(
        f"svd='auto' vs pydmd: {ratio:.1f}x faster, eigenvalue error {auto_err:.3e} vs "
        f"{ref_err:.3e} (target >= 8x, error no worse): {verdict}"
    )
    return results


if __name__ == "__main__":
    main()
