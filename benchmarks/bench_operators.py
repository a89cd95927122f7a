"""Benchmark: structured Koopman operator steps against a dense matrix product of the same map.

For each structured operator of :mod:`koopkit.operators` (diagonal with 2×2 blocks applied
element-wise, low rank ``I + U Vᵀ``), one forward + backward step on a batch is timed against
``z @ K.T`` with ``K = op.matrix()`` precomputed as a plain dense parameter (the peer), in the
same process. Printed: the median time of each and the ratio ``t(dense) / t(structured)``
(> 1 means the structured step is faster), and the largest difference of the outputs.

Run:  python benchmarks/bench_operators.py [--dim 1024] [--batch 4096] [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from koopkit.operators import DiagonalOperator, LowRankOperator


def time_step(fn, z, repeats: int) -> float:
    times = []
    for _ in range(repeats + 2):
        zz = z.detach().requires_grad_(True)
        t0 = time.perf_counter()
        fn(zz).sum().backward()
        times.append(time.perf_counter() - t0)
    return statistics.median(times[2:])  # drop warm-up


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=1024)
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--rank", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    z = torch.randn(args.batch, args.dim)
    operators = {
        "diagonal": DiagonalOperator(args.dim),
        f"lowrank (rank {args.rank})": LowRankOperator(args.dim, args.rank),
    }
    print(f"dim={args.dim} batch={args.batch} threads={torch.get_num_threads()}")
    for name, op in operators.items():
        dense = torch.nn.Parameter(op.matrix().detach().clone())

        def dense_step(x, k=dense):
            return x @ k.T

        t_op = time_step(op, z, args.repeats)
        t_dense = time_step(dense_step, z, args.repeats)
        with torch.no_grad():
            diff = (op(z) - dense_step(z)).abs().max().item()
        print(
            f"{name:<18} structured {t_op * 1e3:8.2f} ms   dense {t_dense * 1e3:8.2f} ms   "
            f"ratio dense/structured {t_dense / t_op:6.2f}   max |diff| {diff:.1e}"
        )


if __name__ == "__main__":
    main()
