"""Benchmark: koopkit.GeneratorEDMD against the continuous-time Koopman of pykoopman (and
koopkit's own EDMD route), on two systems with known generators.

No installable peer has gEDMD: pykoopman's ``KoopmanContinuous`` fits EDMD on snapshot pairs
and reports ``log(lambda) / dt`` (``continuous_lamda_array``; its differentiator is not used by
``fit`` in 1.2.1), deeptime has no generator estimator, d3s (Klus's MATLAB/Python code) is not
on PyPI. So the peer route is "EDMD on pairs, then the logarithm", timed in pykoopman and in
koopkit (``EDMD(...).continuous_eigenvalues(dt)``), against gEDMD on the same data, and all are
scored against the exact generator eigenvalues.

1. Slow manifold ``x1' = mu x1, x2' = lam (x2 - x1^2)`` (mu = -0.1, lam = -1), ``--n-traj``
   exact trajectories of 50 steps, dt = 0.1. Dictionary: the monomials of degree 1 and 2
   (pykoopman ``CustomObservables([x^2, x*y])``, koopkit ``Polynomial(2, include_bias=False)``:
   the same span). Exact eigenvalues ``mu, lam, 2 mu``. gEDMD from the trajectories uses
   finite differences of order 4; "gEDMD, dX given" uses the vector field at the samples.
2. Ornstein–Uhlenbeck ``dX = -theta X dt + sigma dW`` (theta = 0.5, sigma = 0.8),
   ``--ou-paths`` exact sample paths of 200 steps, dt = 0.02, from the stationary law.
   Dictionary: monomials of degree 0..4 (pykoopman ``CustomObservables([1, x^2, x^3, x^4])``).
   Exact eigenvalues ``-k theta``, k = 1..4, compared in order (the real parts sorted). gEDMD
   from the paths uses the Kramers–Moyal estimates; "gEDMD, drift and sigma given" the exact
   drift and noise. The error of every route from paths is statistical (it shrinks with more
   paths, not with a better method).

Printed per case and method: the median fit time over ``--repeats`` (BLAS single-threaded,
``--threads``), the largest error against the exact eigenvalues, and the ratios
``t(pykoopman) / t(gEDMD)`` and ``error(pykoopman) / error(gEDMD)``. pykoopman pins old numpy,
scikit-learn and torch; install it as ``benchmarks/bench_edmd_pykoopman.py`` says
(``--no-deps``). Without it its rows are skipped with the reason printed.

Writes ``benchmarks/results/bench_gedmd.json`` (``--out``) with the command that ran.

Run:  python benchmarks/bench_gedmd.py [--n-traj 50] [--ou-paths 1000] [--repeats 21]
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shlex
import statistics
import sys
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

import koopkit as kk
from koopkit.dictionaries import Polynomial
from koopkit.systems import OrnsteinUhlenbeck, SlowManifold

ROOT = pathlib.Path(__file__).resolve().parents[1]


def import_pykoopman():
    """pykoopman, or the reason it cannot be used."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_edmd_pykoopman import import_pykoopman as load

        return load(), None
    except Exception as error:  # any import failure of the peer is reported, not fatal
        return None, f"{type(error).__name__}: {error}"
    finally:
        sys.path.pop(0)


def max_error(values, exact) -> float:
    values = np.asarray(values)
    return float(max(np.abs(values - w).min() for w in exact))


def timed(fit, repeats):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def slow_manifold_case(args, pk):
    system = SlowManifold(mu=-0.1, lam=-1.0)
    dt = 0.1
    X = system.trajectories(args.n_traj, 50, dt, seed=args.seed)
    Xp, Yp = X[:, :-1].reshape(-1, 2), X[:, 1:].reshape(-1, 2)
    states = X.reshape(-1, 2)
    exact = system.koopman_eigenvalues
    dictionary = Polynomial(2, include_bias=False)
    methods = {
        "gEDMD, finite differences (order 4)": lambda: (
            kk.GeneratorEDMD(dictionary, fd_order=4).fit(X, dt=dt).continuous_eigenvalues_
        ),
        "gEDMD, dX given": lambda: (
            kk.GeneratorEDMD(dictionary)
            .fit(states, system.vector_field(0, states))
            .continuous_eigenvalues_
        ),
        "koopkit EDMD + log / dt": lambda: (
            kk.EDMD(dictionary).fit(Xp, Yp).continuous_eigenvalues(dt)
        ),
    }
    if pk is not None:

        def pykoopman_fit():
            observables = pk.observables.CustomObservables(
                [lambda x: x**2, lambda x, y: x * y], interaction_only=True
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = pk.Koopman(observables=observables, regressor=pk.regression.EDMD())
                model.fit(Xp, y=Yp, dt=dt)
            return np.asarray(model.continuous_lamda_array)

        methods["pykoopman continuous (EDMD + log / dt)"] = pykoopman_fit
    rows = {}
    for name, fit in methods.items():
        t, omega = timed(fit, args.repeats)
        rows[name] = {"seconds": t, "max_error": max_error(omega, exact)}
    return {
        "data": f"{args.n_traj} slow-manifold trajectories of 50 steps, dt = {dt}",
        "exact": [float(w) for w in exact],
        "methods": rows,
        "reference": "gEDMD, finite differences (order 4)",
    }


def ou_case(args, pk):
    ou = OrnsteinUhlenbeck(theta=0.5, sigma=0.8)
    dt = 0.02
    X = ou.trajectories(args.ou_paths, 200, dt, seed=args.seed)
    Xp, Yp = X[:, :-1].reshape(-1, 1), X[:, 1:].reshape(-1, 1)
    states = X.reshape(-1, 1)
    exact = ou.generator_eigenvalues(4)[1:]
    dictionary = Polynomial(4)
    methods = {
        "gEDMD, Kramers-Moyal from the paths": lambda: (
            kk.GeneratorEDMD(dictionary, stochastic=True).fit(X, dt=dt).continuous_eigenvalues_
        ),
        "gEDMD, drift and sigma given": lambda: (
            kk.GeneratorEDMD(dictionary)
            .fit(states, ou.vector_field(0, states), sigma=[[ou.sigma]])
            .continuous_eigenvalues_
        ),
        "koopkit EDMD + log / dt": lambda: (
            kk.EDMD(dictionary).fit(Xp, Yp).continuous_eigenvalues(dt)
        ),
    }
    if pk is not None:

        def pykoopman_fit():
            observables = pk.observables.CustomObservables(
                [lambda x: x**0, lambda x: x**2, lambda x: x**3, lambda x: x**4]
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = pk.Koopman(observables=observables, regressor=pk.regression.EDMD())
                model.fit(Xp, y=Yp, dt=dt)
            return np.asarray(model.continuous_lamda_array)

        methods["pykoopman continuous (EDMD + log / dt)"] = pykoopman_fit
    rows = {}
    for name, fit in methods.items():
        t, omega = timed(fit, args.repeats)
        rates = np.sort(np.asarray(omega).real)[::-1][1:5]  # drop the constant's 0
        rows[name] = {"seconds": t, "max_error": float(np.abs(rates - exact).max())}
    return {
        "data": f"{args.ou_paths} OU paths of 200 steps, dt = {dt}, theta 0.5, sigma 0.8",
        "exact": [float(w) for w in exact],
        "methods": rows,
        "reference": "gEDMD, Kramers-Moyal from the paths",
    }


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=50)
    parser.add_argument("--ou-paths", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (all libraries)")
    parser.add_argument(
        "--out", type=pathlib.Path, default=ROOT / "benchmarks/results/bench_gedmd.json"
    )
    args = parser.parse_args(argv)
    pk, reason = import_pykoopman()
    if pk is None:
        print(f"pykoopman is not available ({reason}); its rows are skipped")
    record = {
        "command": "python benchmarks/bench_gedmd.py"
        + ("" if argv is None else " " + shlex.join(argv)),
        "pykoopman": "1.2.1" if pk is not None else f"not available: {reason}",
        "repeats": args.repeats,
        "blas_threads": args.threads,
    }
    with threadpool_limits(args.threads):
        for key, case in tqdm(
            [("slow_manifold", slow_manifold_case), ("ornstein_uhlenbeck", ou_case)],
            desc="cases",
            leave=False,
        ):
            record[key] = case(args, pk)
    for key in ("slow_manifold", "ornstein_uhlenbeck"):
        case = record[key]
        ref = case["methods"][case["reference"]]
        print(f"\n{key}: {case['data']}; exact {np.round(case['exact'], 4)}")
        print(f"  {'method':<42}{'fit s':>9}{'max error':>12}")
        for name, row in case["methods"].items():
            print(f"  {name:<42}{row['seconds']:>9.4f}{row['max_error']:>12.2e}")
        peer = case["methods"].get("pykoopman continuous (EDMD + log / dt)")
        if peer is not None:
            case["ratio_time_pykoopman_over_gedmd"] = peer["seconds"] / ref["seconds"]
            case["ratio_error_pykoopman_over_gedmd"] = peer["max_error"] / ref["max_error"]
            print(
                f"  {case['reference']} vs pykoopman: time ratio "
                f"{case['ratio_time_pykoopman_over_gedmd']:.2f}x, error ratio "
                f"{case['ratio_error_pykoopman_over_gedmd']:.3g}x"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"\nwrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return record


if __name__ == "__main__":
    main(sys.argv[1:] or None)
