"""Koopman models with control inputs (DMDc and EDMDc)
===================================================

1. A linear system driven by an input, ``x_{k+1} = A x_k + B u_k`` (two coupled damped
   oscillators, force on the first mass). DMDc recovers ``A`` and ``B`` from one excited
   trajectory to round-off and predicts the response to a new input signal; plain DMD, which
   has no input, folds the forcing into a wrong spectrum.
2. A nonlinear system whose Koopman lift is linear in the input: ``x1' = a x1``,
   ``x2' = c x2 + d x1^2 + b u``. EDMDc with monomials of degree 2 is exact on it; DMDc, linear
   in the state, cannot represent ``x1^2`` and drifts.

The conditional model of the Koopman Distillation Model, ``z0 = K zT + B y`` with the class
label ``y`` as the input, is the same kind of model (see the KDM guide).

Prints the recovery errors and saves ``control.png`` and ``results.json`` under ``--out`` (and, with
``--docs-figure``, the user guide's copy).

Run:  python examples/08_control_inputs.py [--out runs/example08] [--docs-figure]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

import koopkit as kk
from koopkit.dictionaries import Polynomial

TITLE = "Koopman models with control inputs (DMDc and EDMDc)"

DT = 0.1
# The user guide's copy, relative to the root of a clone (where the examples are run from).
DOCS_FIGURE = pathlib.Path("docs/guide/figures/01b-control.png")


def two_masses(dt: float = DT):
    """Exact discretization (zero-order hold) of two springs-and-dampers masses, force on mass 1."""
    from scipy.linalg import expm

    k, c = 1.0, 0.1
    Ac = np.array([[0, 1, 0, 0], [-2 * k, -c, k, 0], [0, 0, 0, 1], [k, 0, -2 * k, -c]], dtype=float)
    Bc = np.array([[0.0], [1.0], [0.0], [0.0]])
    M = expm(np.block([[Ac, Bc], [np.zeros((1, 5))]]) * dt)
    return M[:4, :4], M[:4, 4:]


def simulate(step, x0, U):
    X = [np.asarray(x0, dtype=float)]
    for u in U:
        X.append(step(X[-1], u))
    return np.array(X)


def linear_part(results: dict):
    A, B = two_masses()
    rng = np.random.default_rng(0)
    U_train = rng.normal(size=(300, 1))  # a rich excitation
    X_train = simulate(lambda x, u: A @ x + B @ u, np.zeros(4), U_train)
    t = DT * np.arange(150)
    U_test = np.sin(0.8 * t)[:, None] * (t < 8)[:, None]  # one sine period, then free decay
    X_test = simulate(lambda x, u: A @ x + B @ u, [0.5, 0, -0.5, 0], U_test)
    dmdc = kk.DMDc().fit(X_train, U_train)
    dmd = kk.DMD(rank=4).fit(X_train)
    true = np.linalg.eigvals(A)
    results["linear"] = {
        "A_error": float(np.abs(dmdc.A_ - A).max()),
        "B_error": float(np.abs(dmdc.B_ - B).max()),
        "dmdc_eig_error": max(float(np.min(np.abs(dmdc.eigenvalues_ - lam))) for lam in true),
        "dmd_eig_error": max(float(np.min(np.abs(dmd.eigenvalues_ - lam))) for lam in true),
        "dmdc_rmse": float(np.sqrt(np.mean((dmdc.predict(X_test[0], U_test) - X_test) ** 2))),
        "dmd_rmse": float(np.sqrt(np.mean((dmd.predict(X_test[0], 150) - X_test) ** 2))),
    }
    print(
        "linear system: DMDc |A - A_true| = {A_error:.1e}, |B - B_true| = {B_error:.1e}; "
        "eigenvalue error DMDc {dmdc_eig_error:.1e}, DMD {dmd_eig_error:.1e}; "
        "test RMSE DMDc {dmdc_rmse:.1e}, DMD {dmd_rmse:.1e}".format(**results["linear"])
    )
    return true, dmdc, dmd, X_test, U_test


def nonlinear_part(results: dict):
    a, c, d, b = 0.95, 0.7, 0.5, 0.4

    def step(x, u):
        return np.array([a * x[0], c * x[1] + d * x[0] ** 2 + b * u[0]])

    rng = np.random.default_rng(1)
    X_train, U_train = [], []
    for _ in range(20):
        U = rng.normal(size=(30, 1))
        X_train.append(simulate(step, rng.uniform(-1.5, 1.5, size=2), U))
        U_train.append(U)
    t = DT * np.arange(80)
    U_test = 0.5 * np.sign(np.sin(0.5 * t))[:, None]
    X_test = simulate(step, [1.4, -0.5], U_test)
    edmdc = kk.EDMDc(dictionary=Polynomial(degree=2)).fit(np.stack(X_train), np.stack(U_train))
    dmdc = kk.DMDc().fit(np.stack(X_train), np.stack(U_train))
    results["nonlinear"] = {
        "edmdc_rmse": float(np.sqrt(np.mean((edmdc.predict(X_test[0], U_test) - X_test) ** 2))),
        "dmdc_rmse": float(np.sqrt(np.mean((dmdc.predict(X_test[0], U_test) - X_test) ** 2))),
    }
    print(
        "nonlinear system: test RMSE EDMDc (degree 2) {edmdc_rmse:.1e}, "
        "DMDc {dmdc_rmse:.1e}".format(**results["nonlinear"])
    )
    return edmdc, dmdc, X_test, U_test


def save_figure(paths, linear, nonlinear) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    true, dmdc, dmd, X_test, U_test = linear
    edmdc, dmdc_nl, X_nl, U_nl = nonlinear
    fig, axes = plt.subplots(1, 3, figsize=(14, 4.2))
    ax = axes[0]
    for values, style in [
        (np.log(true) / DT, dict(marker="+", s=180, color="k", label="true A")),
        (
            dmdc.continuous_eigenvalues(DT),
            dict(s=60, facecolors="none", edgecolors="C0", label="DMDc"),
        ),
        (dmd.continuous_eigenvalues(DT), dict(marker="x", color="C3", label="DMD (no input)")),
    ]:
        ax.scatter(values.real, values.imag, **style)
    ax.set_xlabel("growth rate Re(omega)")
    ax.set_ylabel("angular frequency Im(omega)")
    ax.set_title("Continuous eigenvalues, forced linear system")
    ax.legend(fontsize=8)
    ax = axes[1]
    t = DT * np.arange(len(X_test))
    ax.plot(t, X_test[:, 0], color="k", lw=2, label="true $x_1$")
    ax.plot(t, dmdc.predict(X_test[0], U_test)[:, 0], "--", color="C0", label="DMDc")
    ax.plot(t, dmd.predict(X_test[0], len(t) - 1)[:, 0], ":", color="C3", label="DMD (no input)")
    ax.plot(t[:-1], U_test[:, 0], color="0.6", lw=1, label="input $u$")
    ax.set_xlabel("t")
    ax.set_title("New input signal")
    ax.legend(fontsize=8)
    ax = axes[2]
    t = DT * np.arange(len(X_nl))
    ax.plot(t, X_nl[:, 1], color="k", lw=2, label="true $x_2$")
    ax.plot(t, edmdc.predict(X_nl[0], U_nl)[:, 1], "--", color="C0", label="EDMDc, degree 2")
    ax.plot(t, dmdc_nl.predict(X_nl[0], U_nl)[:, 1], ":", color="C3", label="DMDc")
    ax.set_xlabel("t")
    ax.set_title(r"$x_2' = c x_2 + d x_1^2 + b u$")
    ax.legend(fontsize=8)
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example08"))
    parser.add_argument("--docs-figure", action="store_true", help=f"also write {DOCS_FIGURE}")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    linear = linear_part(results)
    nonlinear = nonlinear_part(results)
    paths = [args.out / "control.png"] + ([DOCS_FIGURE] if args.docs_figure else [])
    save_figure(paths, linear, nonlinear)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print("figure saved to " + ", ".join(str(p) for p in paths))
    print(f"numbers saved to {args.out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
