"""The Koopman generator from data: gEDMD on an ODE and an SDE
===========================================================

:class:`koopkit.GeneratorEDMD` estimates the Koopman generator ``L`` (Klus et al. 2020) from
states and their time derivatives. Its eigenvalues are continuous-time rates without any ``dt``;
``koopman_matrix(dt)`` is the operator of a step, ``expm(L dt)``.

1. The slow manifold ``x1' = mu x1, x2' = lam (x2 - x1^2)`` from 200 scattered states and the
   vector field there (no trajectories): monomials up to degree 2 give the exact eigenvalues
   ``mu, lam, 2 mu`` and eigenfunctions ``x1, x1^2, x2 - b x1^2``, and the generator applied to
   the coordinates returns the vector field (system identification). From trajectories, the
   derivatives are finite differences whose error falls as ``dt^order``.
2. An Ornstein–Uhlenbeck process ``dX = -theta X dt + sigma dW``: from sample paths alone
   (Kramers–Moyal estimates of drift and diffusion) gEDMD finds the rates ``-k theta`` and
   eigenfunctions close to the Hermite polynomials ``He_k(x / s)``; the diffusion term is what
   shifts them away from the monomials of the deterministic part.

Prints the errors and saves ``generator.png`` and ``generator_summary.png`` under ``--out``.

Run:  python examples/14_generator_edmd.py [--out runs/example14]
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import koopkit as kk
from koopkit.dictionaries import Polynomial
from koopkit.systems import OrnsteinUhlenbeck, SlowManifold

TITLE = "The Koopman generator from data: gEDMD on an ODE and an SDE"


def nearest(values, targets) -> np.ndarray:
    values = np.asarray(values)
    return np.array([np.abs(values - t).min() for t in targets])


def slow_manifold(results: dict) -> dict:
    system = SlowManifold(mu=-0.1, lam=-1.0)
    X = np.random.default_rng(0).uniform(-1, 1, size=(200, 2))
    model = kk.GeneratorEDMD(Polynomial(2)).fit(X, system.vector_field(0, X))
    omega = model.continuous_eigenvalues_
    print("Slow manifold, 200 scattered states with their derivatives:")
    print("  exact mu, lam, 2 mu ", system.koopman_eigenvalues)
    print("  gEDMD errors        ", nearest(omega, system.koopman_eigenvalues))
    drift_error = float(np.abs(model.drift(X) - system.vector_field(0, X)).max())
    print(f"  identified vector field, largest error {drift_error:.1e}")
    orders, errors = [1, 2, 4, 6], {}
    for dt in (0.2, 0.1, 0.05):
        data = system.trajectories(n_traj=10, n_steps=int(round(5 / dt)), dt=dt, seed=0)
        errors[dt] = [
            float(
                nearest(
                    kk.GeneratorEDMD(Polynomial(2), fd_order=order)
                    .fit(data, dt=dt)
                    .continuous_eigenvalues_,
                    system.koopman_eigenvalues,
                ).max()
            )
            for order in orders
        ]
    print("  from trajectories, finite differences (largest eigenvalue error):")
    for dt, row in errors.items():
        print(
            f"    dt = {dt:<5} "
            + "  ".join(f"order {o}: {e:.1e}" for o, e in zip(orders, row, strict=True))
        )
    results["slow_manifold"] = {
        "eigenvalue_errors": nearest(omega, system.koopman_eigenvalues).tolist(),
        "drift_error": drift_error,
        "fd_orders": orders,
        "fd_errors": {str(k): v for k, v in errors.items()},
    }
    return {"system": system, "model": model, "X": X}


def ornstein_uhlenbeck(results: dict) -> dict:
    ou = OrnsteinUhlenbeck(theta=0.5, sigma=0.8)
    paths = ou.trajectories(1000, 200, 0.02, seed=0)
    model = kk.GeneratorEDMD(Polynomial(4), stochastic=True).fit(paths, dt=0.02)
    omega = np.asarray(model.continuous_eigenvalues_).real
    exact = ou.generator_eigenvalues(4)
    print(f"Ornstein-Uhlenbeck, {paths.shape[0]} paths of 200 steps (dt 0.02), Kramers-Moyal:")
    print("  exact -k theta", exact)
    print("  gEDMD         ", omega.round(3))
    results["ornstein_uhlenbeck"] = {"exact": exact.tolist(), "estimated": omega.tolist()}
    return {"system": ou, "model": model, "paths": paths}


def save_figures(out: pathlib.Path, sm: dict, ou: dict, results: dict) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.3), layout="constrained")
    system, model = sm["system"], sm["model"]
    grid = np.linspace(-1, 1, 60)
    x1, x2 = np.meshgrid(grid, grid)
    Z = np.stack([x1.ravel(), x2.ravel()], axis=1)
    phi = model.eigenfunctions(Z)[:, np.argmin(np.abs(model.continuous_eigenvalues_ - system.lam))]
    phi = (phi / phi[np.argmax(np.abs(phi))]).real.reshape(x1.shape)
    image = axes[0].contourf(x1, x2, phi, levels=20, cmap="RdBu_r")
    b = system.lam / (system.lam - 2 * system.mu)
    axes[0].contour(x1, x2, x2 - b * x1**2, levels=[0], colors="k", linestyles="--")
    fig.colorbar(image, ax=axes[0])
    axes[0].set_title(r"eigenfunction of $\lambda$; dashed: $x_2 = b x_1^2$ (its zero set)")
    axes[0].set_xlabel("x1")
    axes[0].set_ylabel("x2")

    ou_system, ou_model = ou["system"], ou["model"]
    xs = np.linspace(-2, 2, 200)[:, None]
    phi = ou_model.eigenfunctions(xs).real
    for k in range(1, 5):
        exact = ou_system.eigenfunction(xs[:, 0], k)
        f = phi[:, k] * (np.vdot(phi[:, k], exact) / np.vdot(phi[:, k], phi[:, k]))
        axes[1].plot(xs, exact, color=f"C{k}", lw=2, alpha=0.5, label=rf"$He_{k}(x/s)$")
        axes[1].plot(xs, f, color=f"C{k}", ls="--")
    axes[1].set_ylim(-6, 6)
    axes[1].legend(fontsize=8, ncol=2)
    axes[1].set_title("OU eigenfunctions: exact (solid), gEDMD from paths (dashed)")
    axes[1].set_xlabel("x")

    fd = results["slow_manifold"]
    dts = np.array([float(dt) for dt in fd["fd_errors"]])
    for i, order in enumerate(fd["fd_orders"]):
        errs = np.array([row[i] for row in fd["fd_errors"].values()])
        axes[2].loglog(dts, np.maximum(errs, 1e-16), "o-", color=f"C{i}", label=f"fd_order={order}")
    axes[2].set_xlabel("dt")
    axes[2].set_ylabel("largest eigenvalue error")
    axes[2].set_title("slow manifold from trajectories")
    axes[2].legend(fontsize=8)
    fig.savefig(out / "generator.png", dpi=100)
    plt.close(fig)

    fig = kk.analysis.plot_summary(model, sm["X"], dt=0.5)
    fig.suptitle("plot_summary(GeneratorEDMD on the slow manifold, X, dt=0.5)")
    fig.savefig(out / "generator_summary.png", dpi=80)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example14"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    results: dict = {}
    sm = slow_manifold(results)
    ou = ornstein_uhlenbeck(results)
    save_figures(args.out, sm, ou, results)
    print(f"figures saved to {args.out}/generator.png and generator_summary.png")
    return results


if __name__ == "__main__":
    main()
