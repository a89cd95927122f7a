"""How close can a checkerboard teacher get to the true board: the network or the sampler?

Scores 2-D samples by SW1 (512 directions) against fresh samples of the true checkerboard, beside
the sampling floor (two independent true sets of the same size, mean over four pairs), for

* the learned teacher of a run (``--teacher``, e.g. the quickstart's), and
* its peer measured in the same run: the *exact* denoiser of the checkerboard
  (:func:`koopkit_diffusion.data.checkerboard_denoiser`), the best any network could do,

each under EDM's Heun sampler with N steps (2N − 1 network evaluations) for every N of
``--steps``. Where the exact denoiser itself stays far from the floor, the gap is the sampler's
discretisation, not the network's blur. Writes ``--out`` (JSON) and prints a table of
``SW1 / floor``::

    python benchmarks/bench_teacher_sampler.py --teacher runs/quickstart/teacher \\
        --steps 18,25,32,40 --n 50000 --out runs/bench-teacher-sampler.json
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from koopkit.io import recorded_command, write_json
from koopkit_diffusion.data import checkerboard, checkerboard_denoiser
from koopkit_diffusion.edm import heun_sample
from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
from koopkit_diffusion.runs import load_teacher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", required=True, help="a checkerboard teacher run")
    parser.add_argument("--steps", default="18,25,32,40", help="Heun step counts N")
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--out", default="runs/bench-teacher-sampler.json")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    teacher = load_teacher(args.teacher)
    exact = checkerboard_denoiser()
    true = checkerboard(args.n, seed=1_000_001)
    floors = [
        sliced_wasserstein(
            checkerboard(args.n, seed=2_000 + 2 * i), checkerboard(args.n, seed=2_001 + 2 * i)
        )
        for i in range(4)
    ]
    floor = float(np.mean(floors))
    noise = torch.randn(args.n, 2, generator=torch.Generator().manual_seed(12345)).double()
    rows = []
    for n_steps in (int(s) for s in args.steps.split(",")):
        row = {"n_steps": n_steps, "nfe": 2 * n_steps - 1}
        for name, denoiser in (("teacher", teacher), ("exact", exact)):
            t0 = time.perf_counter()
            x = heun_sample(
                denoiser, noise, n_steps, sigma_min=teacher.sigma_min,
                sigma_max=teacher.sigma_max, dtype=torch.float64,
            ).samples  # fmt: skip
            row[f"{name}_s"] = time.perf_counter() - t0
            row[f"{name}_sw"] = sliced_wasserstein(x, true)
            row[f"{name}_over_floor"] = row[f"{name}_sw"] / floor
        rows.append(row)
        print(
            f"N={n_steps:3d} ({row['nfe']:3d} NFE): teacher SW1 {row['teacher_sw']:.4f} "
            f"({row['teacher_over_floor']:.2f}x floor), exact denoiser {row['exact_sw']:.4f} "
            f"({row['exact_over_floor']:.2f}x floor)",
            flush=True,
        )
    print(
        f"floor (two independent {args.n} true sets, mean of 4): {floor:.4f} ± {np.std(floors):.4f}"
    )
    write_json(
        {
            "command": recorded_command(),
            "teacher": str(args.teacher),
            "n": args.n,
            "floor": floor,
            "floors": floors,
            "rows": rows,
        },
        Path(args.out),
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
