"""One-call summary plots of fitted Koopman models
===============================================

:func:`koopkit.analysis.plot_summary` draws, in one figure, what a user of PyDMD's
``plot_summary`` looks at first: the singular values of the data with the kept rank, the
discrete-time eigenvalues against the unit circle, the continuous-time eigenvalues (given
``dt``), the leading modes and their time dynamics, with one colour per mode across the panels.

1. A field on a 24 × 32 grid made of three travelling patterns, each with its own frequency
   and decay rate, plus noise. DMD of rank 6 recovers the three pairs of continuous
   eigenvalues; the modes are drawn as images (``shape=(24, 32)``) and match the patterns.
2. The slow manifold ``x1' = mu x1, x2' = lam (x2 - x1^2)`` with EDMD on monomials up to degree
   2: the continuous panel shows ``mu``, ``lam`` and ``2 mu`` among the eigenvalues and the
   singular values are those of the lifted data ``psi(X)``.

Prints the recovered eigenvalues and saves ``summary_field.png`` and
``summary_slow_manifold.png`` under ``--out``.

Run:  python examples/13_summary_plot.py [--out runs/example13]
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import koopkit as kk
from koopkit.dictionaries import Polynomial
from koopkit.systems import SlowManifold

DT = 0.05
SHAPE = (24, 32)
# continuous-time eigenvalues omega = growth + 2 pi i f of the three patterns
RATES = np.array([-0.05 + 2j * np.pi * 0.4, -0.2 + 2j * np.pi * 1.1, -0.5 + 2j * np.pi * 2.3])

TITLE = "One-call summary plots of fitted Koopman models"


def field(n_steps: int = 240, noise: float = 0.02, seed: int = 0) -> tuple[np.ndarray, list]:
    """Snapshots (n_steps + 1, 24 * 32) of three travelling patterns, and the patterns.

    Pattern ``j`` is a complex field ``p_j + i q_j`` and enters as ``Re(exp(omega_j t) (p_j +
    i q_j))``: its real and imaginary parts take turns, so the pair ``omega_j, conj(omega_j)``
    is visible in the data (a single real pattern would have rank 1 and hide the pair).
    """
    rows, cols = SHAPE
    y, x = np.mgrid[0:rows, 0:cols] / np.array([rows, cols])[:, None, None]
    patterns = [
        np.exp(-((x - 0.3) ** 2 + (y - 0.4) ** 2) / 0.02) * np.exp(2j * np.pi * x),
        np.exp(2j * np.pi * x) * np.cos(np.pi * y),
        np.exp(3j * np.pi * (x + y)),
    ]
    t = DT * np.arange(n_steps + 1)
    X = sum(
        np.real(np.exp(w * t)[:, None] * p.reshape(-1)[None, :])
        for w, p in zip(RATES, patterns, strict=True)
    )
    X = X + noise * np.random.default_rng(seed).normal(size=X.shape)
    return X, patterns


def summarize_field(out: pathlib.Path, results: dict) -> None:
    import matplotlib.pyplot as plt

    X, patterns = field()
    dmd = kk.DMD(rank=6).fit(X)
    omega = dmd.continuous_eigenvalues(DT)
    upper = np.sort_complex(omega[omega.imag > 0])
    error = float(np.abs(upper - np.sort_complex(RATES)).max())
    print("Field: true continuous eigenvalues", np.round(np.sort_complex(RATES), 3))
    print("  DMD(rank=6)                     ", np.round(upper, 3))
    print(f"  largest error {error:.2e} (noise 0.02 per pixel)")
    # each pattern's real and imaginary parts lie in the span of the mode of its frequency
    similarity = []
    for w, p in zip(RATES, patterns, strict=True):
        mode = dmd.modes_[:, int(np.argmin(np.abs(omega - w)))]
        basis = np.linalg.qr(np.stack([mode.real, mode.imag], axis=1))[0]
        target = np.linalg.qr(np.stack([p.real.reshape(-1), p.imag.reshape(-1)], axis=1))[0]
        # cosine of the largest principal angle between the two planes
        similarity.append(float(np.linalg.svd(basis.T @ target, compute_uv=False).min()))
    print("  pattern planes against mode planes (cosine):", np.round(similarity, 4))
    fig = kk.analysis.plot_summary(dmd, X, dt=DT, shape=SHAPE)
    fig.suptitle("DMD of a 24 × 32 field: plot_summary(dmd, X, dt=0.05, shape=(24, 32))")
    fig.savefig(out / "summary_field.png", dpi=90)
    plt.close(fig)
    results["field"] = {"eigenvalue_error": error, "pattern_cosines": similarity}


def summarize_slow_manifold(out: pathlib.Path, results: dict) -> None:
    import matplotlib.pyplot as plt

    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = system.trajectories(n_traj=20, n_steps=40, dt=0.1, seed=0)
    edmd = kk.EDMD(dictionary=Polynomial(degree=2)).fit(X)
    omega = edmd.continuous_eigenvalues(0.1)
    nearest = [float(np.abs(omega - w).min()) for w in system.koopman_eigenvalues]
    print("Slow manifold: exact mu, lam, 2 mu", system.koopman_eigenvalues)
    print("  EDMD Polynomial(2), nearest errors", np.array(nearest))
    fig = kk.analysis.plot_summary(edmd, X, dt=0.1)
    fig.suptitle("EDMD on the slow manifold: plot_summary(edmd, X, dt=0.1)")
    fig.savefig(out / "summary_slow_manifold.png", dpi=90)
    plt.close(fig)
    results["slow_manifold"] = {"nearest_errors": nearest}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example13"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    results: dict = {}
    summarize_field(args.out, results)
    summarize_slow_manifold(args.out, results)
    print(f"figures saved to {args.out}/summary_field.png and summary_slow_manifold.png")
    return results


if __name__ == "__main__":
    main()
