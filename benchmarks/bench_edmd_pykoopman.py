"""Benchmark: koopkit.EDMD against pykoopman's EDMD on the same dictionary and data.

pykoopman (``pip install pykoopman``, version 1.2.1; it pins old numpy/scikit-learn/torch, so
install it with ``--no-deps`` next to ``optht derivative lightning lightning-utilities
torchmetrics``, also ``--no-deps``) fits ``Koopman(observables, regressor=EDMD())``. Its
``Polynomial`` observables need scikit-learn < 1.2 (they read ``n_input_features_``), so the
shared dictionary is the one that runs on current scikit-learn: the state plus Gaussian radial
basis functions at fixed centers (pykoopman ``RadialBasisFunction(kernel_width=w)`` is
koopkit's ``Concat([Identity(), RBF(centers, gamma=w**2)])``). pykoopman 1.2.1 imports
``pkg_resources`` only for its version string; setuptools >= 81 no longer ships that module, so
the script registers an empty stand-in before importing pykoopman when it is missing.

Data: ``--n-traj`` Duffing trajectories of 100 steps (dt 0.1) as explicit pairs, 100 centers
drawn from the data. Both libraries fit the full-rank and a rank-20 model (SVD truncation of
the lifted data), median of ``--repeats`` fits (lifting, regression and eigenvalues). Printed:
times, ``t(pykoopman) / t(koopkit)`` in wall and in process CPU time, the largest gap between
the two libraries' eigenvalues, and on 20 held-out trajectories the one-step RMSE, the RMSE of
``--horizon``-step rollouts from their first states (pykoopman's ``simulate``, koopkit's
``predict``), the largest eigenvalue modulus and the rank of each model.

"Full rank" is not the same model in the two libraries: pykoopman keeps every singular
direction of the lifted data, koopkit stops at the numerical rank (singular values above
``s_max max(m, p) eps``).

BLAS runs single-threaded by default (``--threads``): on shared cores, several BLAS threads
make both libraries many times slower and the ratio meaningless.

Run:  python benchmarks/bench_edmd_pykoopman.py [--n-traj 200] [--repeats 3] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import sys
import time
import types
import warnings

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import koopkit
from koopkit.dictionaries import RBF, Concat, Identity
from koopkit.systems import Duffing

KERNEL_WIDTH = 1.0


def import_pykoopman():
    try:
        import pkg_resources  # noqa: F401
    except ModuleNotFoundError:
        stub = types.ModuleType("pkg_resources")

        class DistributionNotFound(Exception):
            pass

        def get_distribution(name):
            raise DistributionNotFound(name)

        stub.DistributionNotFound = DistributionNotFound
        stub.get_distribution = get_distribution
        sys.modules["pkg_resources"] = stub
    import pykoopman

    return pykoopman


def trajectories(n_traj: int, seed: int):
    return Duffing().trajectories(n_traj, 100, 0.1, seed=seed)


def pairs(X):
    return X[:, :-1].reshape(-1, 2), X[:, 1:].reshape(-1, 2)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=200)
    parser.add_argument("--n-centers", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="training data and centers")
    parser.add_argument("--horizon", type=int, default=50, help="steps of the held-out rollouts")
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (both libraries)")
    parser.add_argument("--out", type=pathlib.Path, help="write the numbers to this JSON file")
    args = parser.parse_args(argv)
    pk = import_pykoopman()

    Xp, Yp = pairs(trajectories(args.n_traj, seed=args.seed))
    held_out = trajectories(20, seed=args.seed + 1)
    Xt, Yt = pairs(held_out)
    h = args.horizon
    rng = np.random.default_rng(args.seed)
    centers = Xp[rng.choice(len(Xp), args.n_centers, replace=False)]
    print(
        f"{len(Xp)} pairs of the Duffing oscillator, state + {args.n_centers} Gaussian RBFs "
        f"(width {KERNEL_WIDTH}); median of {args.repeats} fits; BLAS threads {args.threads}"
    )

    def fit_pykoopman(rank):
        observables = pk.observables.RadialBasisFunction(
            centers=centers.T.copy(), n_centers=args.n_centers, kernel_width=KERNEL_WIDTH
        )
        regressor = pk.regression.EDMD(svd_rank=1.0 if rank is None else rank)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = pk.Koopman(observables=observables, regressor=regressor).fit(Xp, y=Yp)
        return model, np.asarray(model.lamda_array)

    def fit_koopkit(rank):
        dictionary = Concat([Identity(), RBF(centers=centers, gamma=KERNEL_WIDTH**2)])
        model = koopkit.EDMD(dictionary=dictionary, rank=rank).fit(Xp, Yp)
        return model, np.asarray(model.eigenvalues_)

    def rmse(pred, true):
        with np.errstate(over="ignore", invalid="ignore"):  # diverging rollouts
            return float(np.sqrt(np.mean((pred - true) ** 2)))

    def rollouts_pykoopman(model):
        with np.errstate(over="ignore", invalid="ignore"):
            return np.stack([model.simulate(x0, n_steps=h) for x0 in held_out[:, 0]])

    print(
        f"{'rank':<6}{'pykoopman s':>12}{'koopkit s':>11}{'ratio':>8}{'cpu ratio':>10}"
        f"{'eig gap':>10}"
        f"{'1-step pk':>11}{'1-step kk':>11}{f'{h}-step pk':>11}{f'{h}-step kk':>11}"
        f"{'max|λ| pk':>11}{'max|λ| kk':>11}{'rank pk':>9}{'rank kk':>9}"
    )
    results = {}
    with threadpool_limits(args.threads):
        for rank in tqdm([None, 20], desc="ranks", leave=False):
            times = {"pk": [], "kk": [], "pk_cpu": [], "kk_cpu": []}
            for _ in range(args.repeats):
                start, cpu = time.perf_counter(), time.process_time()
                pk_model, pk_eigs = fit_pykoopman(rank)
                times["pk"].append(time.perf_counter() - start)
                times["pk_cpu"].append(time.process_time() - cpu)
                start, cpu = time.perf_counter(), time.process_time()
                kk_model, kk_eigs = fit_koopkit(rank)
                times["kk"].append(time.perf_counter() - start)
                times["kk_cpu"].append(time.process_time() - cpu)
            t_pk, t_kk = statistics.median(times["pk"]), statistics.median(times["kk"])
            cpu_ratio = statistics.median(times["pk_cpu"]) / statistics.median(times["kk_cpu"])
            gap = float(np.abs(kk_eigs[:, None] - pk_eigs[None, :]).min(axis=1).max())
            true_rollout = held_out[:, 1 : h + 1]
            row = (
                t_pk,
                t_kk,
                cpu_ratio,
                gap,
                rmse(pk_model.predict(Xt), Yt),
                rmse(kk_model.predict(Xt, 1)[:, 1], Yt),
                rmse(rollouts_pykoopman(pk_model), true_rollout),
                rmse(kk_model.predict(held_out[:, 0], h)[:, 1:], true_rollout),
                float(np.abs(pk_eigs).max()),
                float(np.abs(kk_eigs).max()),
                len(pk_eigs),
                kk_model.rank_,
            )
            results[rank] = row
            label = "full" if rank is None else str(rank)
            print(
                f"{label:<6}{t_pk:>12.3f}{t_kk:>11.3f}{t_pk / t_kk:>7.2f}x{cpu_ratio:>9.2f}x"
                f"{gap:>10.1e}"
                + "".join(f"{v:>11.2e}" for v in row[4:8])
                + "".join(f"{v:>11.3f}" for v in row[8:10])
                + "".join(f"{v:>9d}" for v in row[10:])
            )
    if args.out:
        keys = (
            "pykoopman_s",
            "koopkit_s",
            "cpu_time_ratio",
            "eigenvalue_gap",
            "rmse_1step_pykoopman",
            "rmse_1step_koopkit",
            f"rmse_{h}step_pykoopman",
            f"rmse_{h}step_koopkit",
            "max_abs_eigenvalue_pykoopman",
            "max_abs_eigenvalue_koopkit",
            "rank_pykoopman",
            "rank_koopkit",
        )
        table = {
            ("full" if r is None else str(r)): dict(zip(keys, v, strict=True))
            for r, v in results.items()
        }
        record = {"args": vars(args) | {"out": str(args.out)}, "results": table}
        args.out.write_text(json.dumps(record, indent=2))
    return results


if __name__ == "__main__":
    main()
