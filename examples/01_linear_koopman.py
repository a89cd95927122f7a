"""Linear Koopman methods (DMD and EDMD) on two toy ODEs
=====================================================


1. The slow manifold ``x1' = mu x1``, ``x2' = lam (x2 - x1^2)`` has the exact Koopman
   eigenvalues ``mu``, ``lam`` and ``2 mu`` on the span of ``{x1, x2, x1^2}``. DMD, linear in
   the state, cannot see ``x1^2``; EDMD with degree-2 monomials recovers all three exactly.
2. The damped double-well Duffing oscillator has no finite Koopman closure. On trajectories
   in the right well, EDMD with monomials up to degree 5 finds eigenvalues near the
   linearisation at the well, ``-delta/2 ± i sqrt(2 - delta^2/4)``, and predicts far better
   than DMD, which is linear in the state and cannot even represent the offset of the well.

Prints the spectra and saves ``eigenvalues.png`` and ``predictions.png`` under ``--out``.

Run:  python examples/01_linear_koopman.py [--out runs/example01]
"""

from __future__ import annotations

import argparse
import pathlib

import numpy as np

import koopkit as kk
from koopkit.dictionaries import Polynomial
from koopkit.systems import Duffing, SlowManifold

DT = 0.1

TITLE = "Linear Koopman methods (DMD and EDMD) on two toy ODEs"


def slow_manifold(results: dict) -> tuple:
    system = SlowManifold(mu=-0.1, lam=-1.0)
    train = system.trajectories(n_traj=20, n_steps=40, dt=DT, seed=0)
    test = system.simulate([0.9, -0.6], n_steps=60, dt=DT)
    dmd = kk.DMD(rank=2).fit(train)
    edmd = kk.EDMD(dictionary=Polynomial(degree=2)).fit(train)
    print("Slow manifold: true continuous eigenvalues", np.sort(system.koopman_eigenvalues))
    print("  DMD (state only)  ", np.sort(dmd.continuous_eigenvalues(DT).real).round(5))
    print("  EDMD Polynomial(2)", np.sort(edmd.continuous_eigenvalues(DT).real).round(5))
    results["slow_manifold"] = {
        "true": system.koopman_eigenvalues,
        "dmd": dmd.continuous_eigenvalues(DT),
        "edmd": edmd.continuous_eigenvalues(DT),
        "dmd_rmse": float(np.sqrt(np.mean((dmd.predict(test[0], 60) - test) ** 2))),
        "edmd_rmse": float(np.sqrt(np.mean((edmd.predict(test[0], 60) - test) ** 2))),
    }
    return system, test, dmd, edmd


def duffing(results: dict) -> tuple:
    system = Duffing()
    # Initial states around the right well (1, 0): one basin of attraction, where the
    # eigenvalues near the linearisation are well defined.
    x0 = np.array([1.0, 0.0]) + np.random.default_rng(1).uniform(-0.5, 0.5, size=(60, 2))
    train = system.trajectories(n_traj=60, n_steps=60, dt=DT, x0=x0)
    test = system.simulate([1.4, 0.3], n_steps=60, dt=DT)
    dmd = kk.DMD(rank=2).fit(train)
    edmd = kk.EDMD(dictionary=Polynomial(degree=5)).fit(train)
    stiffness = system.alpha + 3 * system.beta  # d(alpha x + beta x^3)/dx at x = 1
    well = -system.delta / 2 + 1j * np.sqrt(stiffness - system.delta**2 / 4)
    omega = edmd.continuous_eigenvalues(DT)
    print(f"Duffing: linearisation at the wells {well:.4f} (and its conjugate)")
    print("  DMD                ", np.round(dmd.continuous_eigenvalues(DT), 4))
    print("  EDMD leading 5     ", np.round(omega[:5], 4))
    results["duffing"] = {
        "well": well,
        "edmd_nearest": complex(omega[np.argmin(np.abs(omega - well))]),
        "dmd_rmse": float(np.sqrt(np.mean((dmd.predict(test[0], 60) - test) ** 2))),
        "edmd_rmse": float(np.sqrt(np.mean((edmd.predict(test[0], 60) - test) ** 2))),
    }
    return system, test, dmd, edmd


def save_figures(out: pathlib.Path, sm, duff) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from koopkit.analysis import plot_continuous_spectrum, plot_eigenvalues

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    system, _, dmd, edmd = sm
    plot_eigenvalues(edmd, ax=axes[0], label="EDMD Polynomial(2)", marker="o")
    plot_eigenvalues(dmd, ax=axes[0], unit_circle=False, label="DMD", marker="x", s=60)
    exact = system.discrete_koopman_eigenvalues(DT)
    axes[0].scatter(exact.real, exact.imag, marker="+", s=150, color="k", label="exact")
    # All eigenvalues are real and close to 1: zoom in.
    axes[0].set_aspect("auto")
    axes[0].set_xlim(0.78, 1.02)
    axes[0].set_ylim(-0.12, 0.12)
    axes[0].legend(loc="upper left")
    axes[0].set_title("Slow manifold (zoom)")
    _, _, dmd_d, edmd_d = duff
    plot_eigenvalues(edmd_d, ax=axes[1], label="EDMD Polynomial(5)", marker="o")
    plot_eigenvalues(dmd_d, ax=axes[1], unit_circle=False, label="DMD", marker="x", s=60)
    axes[1].set_title("Duffing oscillator")
    # The same Duffing spectra in continuous time (an explicit dt): decay rate against frequency,
    # with the linearisation at the well that the leading EDMD pair approximates.
    duffing_system = duff[0]
    plot_continuous_spectrum(edmd_d, dt=DT, ax=axes[2], label="EDMD Polynomial(5)", marker="o")
    plot_continuous_spectrum(dmd_d, dt=DT, ax=axes[2], label="DMD", marker="x", s=60)
    stiffness = duffing_system.alpha + 3 * duffing_system.beta
    well = -duffing_system.delta / 2 + 1j * np.sqrt(stiffness - duffing_system.delta**2 / 4)
    axes[2].scatter(
        [well.real] * 2, [well.imag / (2 * np.pi), -well.imag / (2 * np.pi)],
        marker="+", s=150, color="k", label="linearisation at the well",
    )  # fmt: skip
    axes[2].legend(fontsize=8)
    axes[2].set_title("Duffing, continuous time (dt = 0.1)")
    fig.tight_layout()
    fig.savefig(out / "eigenvalues.png", dpi=120)
    plt.close(fig)

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (name, (system, test, dmd, edmd)) in zip(
        axes, [("Slow manifold", sm), ("Duffing", duff)], strict=True
    ):
        t = DT * np.arange(test.shape[0])
        pred_dmd, pred_edmd = dmd.predict(test[0], len(t) - 1), edmd.predict(test[0], len(t) - 1)
        for j, state in enumerate(system.state_names):
            ax.plot(t, test[:, j], color=f"C{j}", lw=2, label=f"{state} true")
            ax.plot(t, pred_edmd[:, j], color=f"C{j}", ls="--", label=f"{state} EDMD")
            ax.plot(t, pred_dmd[:, j], color=f"C{j}", ls=":", label=f"{state} DMD")
        ax.set_title(name)
        ax.set_xlabel("t")
        ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(out / "predictions.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example01"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    sm = slow_manifold(results)
    duff = duffing(results)
    for name in ("slow_manifold", "duffing"):
        r = results[name]
        print(
            f"{name}: prediction RMSE over 60 steps  DMD {r['dmd_rmse']:.2e}  "
            f"EDMD {r['edmd_rmse']:.2e}"
        )
    save_figures(args.out, sm, duff)
    print(f"figures saved to {args.out}/eigenvalues.png and predictions.png")
    return results


if __name__ == "__main__":
    main()
