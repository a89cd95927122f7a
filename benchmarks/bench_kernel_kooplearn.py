"""Benchmark: koopkit.KernelEDMD (PCR and reduced-rank regression) against kooplearn's KernelRidge.

kooplearn (https://github.com/Machine-Learning-Dynamical-Systems/kooplearn, ``pip install
kooplearn``; version 2.x) implements the same estimators (Kostic et al. 2022):
``KernelRidge(reduced_rank=True)`` is koopkit's ``KernelEDMD(estimator="rrr")`` and
``reduced_rank=False`` is ``estimator="pcr"``, with kooplearn's ``alpha`` = koopkit's
``regularization`` and ``n_components`` = ``rank``.

1. Accuracy against an exact reference. A polynomial kernel ``(gamma x.y + c)^2`` on 2-D states is
   the inner product of six explicit features, so reduced-rank regression in those features
   (``koopkit.EDMD(estimator="rrr")`` on a 6-column matrix, well conditioned) is the exact answer
   that both kernel implementations approximate through Gram matrices. Printed: the largest
   eigenvalue error of each library for several ranks and regularizations.
2. Speed. RBF kernel on one noisy Duffing trajectory of ``--n-snapshots`` snapshots, rank 10,
   regularization 1e-6: fit + eigenvalues, median of ``--repeats`` runs, for RRR and PCR, with
   kooplearn's default solver ("auto") and its dense solver. Printed: times, the ratio
   ``t(kooplearn) / t(koopkit)`` and the largest eigenvalue gap between the two libraries.

BLAS runs single-threaded by default (``--threads``): the ratio compares the algorithms, not
the scheduling of the shared cores.

Run:  python benchmarks/bench_kernel_kooplearn.py [--n-snapshots 1500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import koopkit
from koopkit.dictionaries import Dictionary
from koopkit.systems import Duffing

GAMMA_POLY, COEF0 = 0.7, 1.0


class QuadraticKernelFeatures(Dictionary):
    """Explicit features of ``(g x.y + c)^2`` for 2-D states: ``phi(x) . phi(y) = k(x, y)``."""

    n_output_features_ = 6
    state_matrix_ = None

    def transform(self, X):
        g, c = GAMMA_POLY, COEF0
        x1, x2 = X[:, 0], X[:, 1]
        root = np.sqrt(2 * g * c)
        return np.stack(
            [
                g * x1**2,
                g * x2**2,
                np.full_like(x1, c),
                np.sqrt(2) * g * x1 * x2,
                root * x1,
                root * x2,
            ],
            axis=1,
        )


def gap(a, b) -> float:
    """Largest distance from an eigenvalue of ``a`` to the nearest one of ``b``."""
    a, b = np.asarray(a), np.asarray(b)
    return float(np.abs(a[:, None] - b[None, :]).min(axis=1).max())


def trajectory(n_snapshots: int, seed: int = 0) -> np.ndarray:
    X = Duffing().simulate([1.2, 0.3], n_snapshots - 1, 0.1)
    return X + 0.01 * np.random.default_rng(seed).normal(size=X.shape)


def kooplearn_fit(X, rank, reg, reduced_rank, solver, kernel="rbf", **kw):
    from kooplearn.kernel import KernelRidge

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = KernelRidge(
            n_components=rank,
            reduced_rank=reduced_rank,
            kernel=kernel,
            alpha=reg,
            eigen_solver=solver,
            random_state=0,
            **kw,
        )
        return model.fit(X).eig()


def accuracy() -> dict:
    X = trajectory(301)
    print("1. eigenvalue error against explicit-feature RRR, kernel (0.7 x.y + 1)^2, 300 pairs")
    print(f"{'regularization':>15}{'rank':>6}{'koopkit':>12}{'kooplearn':>12}")
    out = {}
    for reg in (0.0, 1e-6, 1e-2):
        for rank in (3, 4):
            ref = koopkit.EDMD(
                dictionary=QuadraticKernelFeatures(), rank=rank, regularization=reg, estimator="rrr"
            ).fit(X)
            ours = koopkit.KernelEDMD(
                kernel="polynomial",
                gamma=GAMMA_POLY,
                degree=2,
                coef0=COEF0,
                rank=rank,
                regularization=reg,
                estimator="rrr",
            ).fit(X)
            theirs = kooplearn_fit(
                X, rank, reg, True, "dense", kernel="poly", gamma=GAMMA_POLY, degree=2, coef0=COEF0
            )
            e_ours, e_theirs = (
                gap(ours.eigenvalues_, ref.eigenvalues_),
                gap(theirs, ref.eigenvalues_),
            )
            out[(reg, rank)] = (e_ours, e_theirs)
            print(f"{reg:>15g}{rank:>6}{e_ours:>12.1e}{e_theirs:>12.1e}")
    return out


def speed(n_snapshots: int, repeats: int) -> dict:
    X = trajectory(n_snapshots)
    rank, reg, gamma = 10, 1e-6, 0.5
    print(
        f"2. RBF kernel (gamma {gamma}), {n_snapshots - 1} pairs, rank {rank}, "
        f"regularization {reg:g}"
    )
    print(
        f"{'estimator':<12}{'kooplearn solver':<18}{'kooplearn s':>12}{'koopkit s':>11}"
        f"{'ratio':>8}{'max gap':>10}"
    )
    out = {}
    runs = [(est, solver) for est in ("rrr", "pcr") for solver in ("auto", "dense")]
    for est, solver in tqdm(runs, desc="configurations", leave=False):
        t_theirs, t_ours = [], []
        for _ in range(repeats):
            start = time.perf_counter()
            theirs = kooplearn_fit(X, rank, reg, est == "rrr", solver, gamma=gamma)
            t_theirs.append(time.perf_counter() - start)
            start = time.perf_counter()
            ours = koopkit.KernelEDMD(
                gamma=gamma, rank=rank, regularization=reg, estimator=est
            ).fit(X)
            t_ours.append(time.perf_counter() - start)
        a, b = statistics.median(t_theirs), statistics.median(t_ours)
        g = gap(ours.eigenvalues_, theirs)
        out[(est, solver)] = (a, b, g)
        print(f"{est:<12}{solver:<18}{a:>12.3f}{b:>11.3f}{a / b:>7.1f}x{g:>10.1e}")
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-snapshots", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (both libraries)")
    parser.add_argument("--out", type=pathlib.Path, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    import kooplearn

    print(
        f"kooplearn {kooplearn.__version__}, koopkit {koopkit.__version__}, "
        f"BLAS threads {args.threads}"
    )
    with threadpool_limits(args.threads):
        acc = accuracy()
        spd = speed(args.n_snapshots, args.repeats)
    worst_ours = max(e for e, _ in acc.values())
    rrr_ratio = spd[("rrr", "auto")][0] / spd[("rrr", "auto")][1]
    pcr_ratio = spd[("pcr", "auto")][0] / spd[("pcr", "auto")][1]
    print(
        f"koopkit RRR: largest error against the exact reference {worst_ours:.1e}; "
        f"{rrr_ratio:.1f}x faster than kooplearn's default RRR; PCR {pcr_ratio:.2f}x"
    )
    if args.out:
        record = {
            "args": vars(args) | {"out": str(args.out)},
            "accuracy": {
                f"regularization={reg:g} rank={rank}": {"koopkit": a, "kooplearn": b}
                for (reg, rank), (a, b) in acc.items()
            },
            "speed": {
                f"{est} kooplearn-solver={solver}": {
                    "kooplearn_s": a,
                    "koopkit_s": b,
                    "eigenvalue_gap": g,
                }
                for (est, solver), (a, b, g) in spd.items()
            },
        }
        args.out.write_text(json.dumps(record, indent=2))
    return {"accuracy": acc, "speed": spd}


if __name__ == "__main__":
    main()
