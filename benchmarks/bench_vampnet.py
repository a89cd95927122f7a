"""Benchmark: koopkit.VAMPNet against deeptime's VAMPNet on a double well with a known slow process.

Data: ``koopkit.systems.DoubleWell()`` (beta 3, kappa 5), ``--n-traj`` trajectories of 2000
steps, dt = 0.05, the last quarter held out; lag 10 steps (0.5 time units). The slow process is
the hopping between the wells, with the generator eigenvalue ``DoubleWell.slow_rate()`` from a
fine discretisation, so the exact Koopman eigenvalue at the lag is ``exp(rate * 0.5)`` and no
two-feature model can score above ``1 + lambda^2`` (VAMP-2 with the constant).

Both libraries train a copy of the same lobe with the same initial weights (2 -> 32 -> 32 -> 2,
ELU, softmax output, float32), Adam at a constant ``--lr``, batches of 512, ``--epochs`` epochs,
VAMP-2 with eigenvalue truncation at 1e-6 (deeptime ``score_mode="trunc"``), one torch thread
(``--threads``) each, after one short warm-up fit of each. Timed: ``fit`` (deeptime: its ``fit``
on a ``DataLoader`` of the lagged pairs; koopkit: ``fit(X)``), median over ``--seeds`` (which
also change the batch order). Scored with the same function on the held-out pairs: VAMP-2 of
each model's features, and the slow eigenvalue of EDMD on ``[1, features]`` against the exact
one. Printed: times, scores, errors and ``t(deeptime) / t(koopkit)``,
``VAMP-2(koopkit) - VAMP-2(deeptime)`` and the ratio of the slow eigenvalue errors.

Writes ``benchmarks/results/bench_vampnet.json`` (``--out``) with the command that ran.

Run:  python benchmarks/bench_vampnet.py [--n-traj 20] [--epochs 10] [--seeds 3]
"""

from __future__ import annotations

import argparse
import copy
import json
import pathlib
import shlex
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import koopkit as kk
from koopkit.systems import DoubleWell
from koopkit.vamp import vamp_score

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAG, DT, BATCH, EPSILON = 10, 0.05, 512, 1e-6


def make_lobe(seed: int) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(2, 32), nn.ELU(), nn.Linear(32, 32), nn.ELU(), nn.Linear(32, 2), nn.Softmax(-1)
    )


def held_out_scores(transform, test) -> tuple[float, float]:
    """VAMP-2 of the features on the held-out pairs, and |lambda_2| of EDMD on them."""
    X0 = np.concatenate([t[:-LAG] for t in test])
    Y0 = np.concatenate([t[LAG:] for t in test])
    F, G = (torch.as_tensor(np.asarray(transform(A), dtype=np.float64)) for A in (X0, Y0))
    score = float(vamp_score(F, G, "VAMP2", EPSILON))
    ones = np.ones((len(X0), 1))
    edmd = kk.EDMD().fit(np.hstack([ones, F.numpy()]), np.hstack([ones, G.numpy()]))
    return score, float(np.sort(np.abs(edmd.eigenvalues_))[-2])


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-traj", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (both libraries)")
    parser.add_argument(
        "--out", type=pathlib.Path, default=ROOT / "benchmarks/results/bench_vampnet.json"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    system = DoubleWell()
    data = system.trajectories(args.n_traj, 2000, DT, seed=0)
    n_train = (3 * args.n_traj) // 4
    train, test = data[:n_train], data[n_train:]
    exact = float(np.exp(system.slow_rate() * LAG * DT))
    record = {
        "command": "python benchmarks/bench_vampnet.py"
        + ("" if argv is None else " " + shlex.join(argv)),
        "data": f"DoubleWell(beta=3, kappa=5): {args.n_traj} trajectories of 2000 steps, dt "
        f"{DT}, lag {LAG}; {n_train} for training, {args.n_traj - n_train} held out",
        "settings": {
            "epochs": args.epochs,
            "lr": args.lr,
            "batch_size": BATCH,
            "lobe": "2-32-32-2 ELU softmax, float32",
            "torch_threads": args.threads,
        },
        "exact_slow_eigenvalue": exact,
        "vamp2_bound": 1 + exact**2,
    }
    try:
        from deeptime.decomposition.deep import VAMPNet as DeeptimeVAMPNet
        from deeptime.util.data import TrajectoriesDataset
        from torch.utils.data import DataLoader
    except ImportError as error:
        DeeptimeVAMPNet = None
        record["deeptime"] = f"not installed: {error}"
        print(f"deeptime is not installed ({error}); pip install deeptime to compare")

    # One short fit of each library first: the first torch calls of a process (kernel set-up,
    # lazy imports) would otherwise be charged to whichever library runs first.
    kk.VAMPNet(lobe=make_lobe(0), lagtime=LAG, n_epochs=1).fit(train[:2, :600])
    if DeeptimeVAMPNet is not None:
        warm = TrajectoriesDataset.from_numpy(LAG, [t.astype(np.float32) for t in train[:2, :600]])
        DeeptimeVAMPNet(lobe=make_lobe(0), score_mode="trunc").fit(
            DataLoader(warm, batch_size=BATCH, shuffle=True), n_epochs=1
        )

    rows = {"koopkit": [], "deeptime": []}
    for seed in tqdm(range(args.seeds), desc="seeds", leave=False):
        lobe = make_lobe(seed)
        start = time.perf_counter()
        ours = kk.VAMPNet(
            lobe=copy.deepcopy(lobe),
            lagtime=LAG,
            learning_rate=args.lr,
            batch_size=BATCH,
            n_epochs=args.epochs,
            epsilon=EPSILON,
            seed=seed,
        ).fit(train)
        seconds = time.perf_counter() - start
        rows["koopkit"].append((seconds, *held_out_scores(ours.transform, test)))
        if DeeptimeVAMPNet is None:
            continue
        torch.manual_seed(seed)
        dataset = TrajectoriesDataset.from_numpy(LAG, [t.astype(np.float32) for t in train])
        start = time.perf_counter()
        loader = DataLoader(dataset, batch_size=BATCH, shuffle=True)
        theirs = DeeptimeVAMPNet(
            lobe=copy.deepcopy(lobe),
            learning_rate=args.lr,
            score_method="VAMP2",
            score_mode="trunc",
            epsilon=EPSILON,
            device="cpu",
        )
        model = theirs.fit(loader, n_epochs=args.epochs).fetch_model()
        seconds = time.perf_counter() - start
        transform = lambda A, m=model: m.transform(A.astype(np.float32))  # noqa: E731
        rows["deeptime"].append((seconds, *held_out_scores(transform, test)))

    summary = {}
    for name, values in rows.items():
        if not values:
            continue
        t, score, lam = (np.array(v) for v in zip(*values, strict=True))
        summary[name] = {
            "fit_s_median": float(statistics.median(t)),
            "vamp2_held_out_mean": float(score.mean()),
            "vamp2_held_out_std": float(score.std()),
            "slow_eigenvalue_mean": float(lam.mean()),
            "slow_eigenvalue_error_mean": float(np.abs(lam - exact).mean()),
            "per_seed": [list(v) for v in values],
        }
    record["results"] = summary
    print(record["data"])
    print(f"exact slow eigenvalue at the lag {exact:.4f}; VAMP-2 bound {1 + exact**2:.4f}")
    print(f"  {'library':<10}{'fit s':>9}{'VAMP-2 held out':>20}{'|lambda_2|':>12}{'error':>10}")
    for name, s in summary.items():
        print(
            f"  {name:<10}{s['fit_s_median']:>9.2f}"
            f"{s['vamp2_held_out_mean']:>13.4f} ± {s['vamp2_held_out_std']:.4f}"
            f"{s['slow_eigenvalue_mean']:>12.4f}{s['slow_eigenvalue_error_mean']:>10.1e}"
        )
    if "deeptime" in summary:
        k, d = summary["koopkit"], summary["deeptime"]
        record["ratio_time_deeptime_over_koopkit"] = d["fit_s_median"] / k["fit_s_median"]
        record["vamp2_difference_koopkit_minus_deeptime"] = (
            k["vamp2_held_out_mean"] - d["vamp2_held_out_mean"]
        )
        record["ratio_slow_eigenvalue_error_deeptime_over_koopkit"] = (
            d["slow_eigenvalue_error_mean"] / k["slow_eigenvalue_error_mean"]
        )
        print(
            f"  time ratio deeptime / koopkit {record['ratio_time_deeptime_over_koopkit']:.2f}x; "
            f"VAMP-2 koopkit - deeptime {record['vamp2_difference_koopkit_minus_deeptime']:+.4f}; "
            "slow-eigenvalue error ratio deeptime / koopkit "
            f"{record['ratio_slow_eigenvalue_error_deeptime_over_koopkit']:.2f}x"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}")
    return record


if __name__ == "__main__":
    main(sys.argv[1:] or None)
