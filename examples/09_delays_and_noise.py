"""Time delays, noise-robust DMD and statistically grounded model selection
========================================================================

1. Hankel DMD: three damped oscillations seen through one scalar. DMD on the scalar has one
   dimension to work with; stacking 20 delays recovers all six continuous eigenvalues.
2. HAVOK: Hankel DMD with a forcing term on the x coordinate of the Lorenz system. The linear
   model of the first delay coordinates is driven by the last one, whose bursts announce the
   switches between the two lobes (Brunton et al. 2017).
3. Noise: exact DMD on noisy snapshots is biased towards damping; optimized DMD (variable
   projection) is not, and BOP-DMD's bags give every eigenvalue an error bar.
4. Model selection: two predictable coordinates hidden among three louder noise coordinates.
   At equal rank, reduced-rank regression ("rrr") keeps the predictable directions and
   principal-component regression ("pcr") the loud ones; the cross-validated VAMP-2 score over
   held-out trajectories says so without knowing the answer.

Prints the numbers and saves ``delays_and_noise.png`` and ``results.json`` under ``--out``
(and, with ``--docs-figure``, the user guide's copy).

Run:  python examples/09_delays_and_noise.py [--out runs/example09] [--docs-figure]
"""

from __future__ import annotations

import argparse
import json
import pathlib

import numpy as np

import koopkit as kk
from koopkit.model_selection import TrajectoryKFold, cross_val_score
from koopkit.systems import Lorenz63

TITLE = "Time delays, noise-robust DMD and statistically grounded model selection"

# The user guide's copy, relative to the root of a clone (where the examples are run from).
DOCS_FIGURE = pathlib.Path("docs/guide/figures/01b-delays-and-noise.png")
OMEGA = np.array([-0.1 + 2.0j, -0.3 + 5.0j, -0.05 + 0.7j])


def match_error(estimated, true) -> float:
    return max(float(np.min(np.abs(np.asarray(estimated) - lam))) for lam in true)


def hankel_part(results: dict):
    dt = 0.05
    t = dt * np.arange(400)
    y = sum(np.exp(w.real * t) * np.cos(w.imag * t + k) for k, w in enumerate(OMEGA))
    true = np.concatenate([OMEGA, OMEGA.conj()])
    hankel = kk.HankelDMD(delays=20, rank=6).fit(y)
    dmd = kk.DMD(rank=1).fit(y[:, None])
    results["hankel"] = {
        "hankel_error": match_error(hankel.continuous_eigenvalues(dt), true),
        "dmd_error": match_error(dmd.continuous_eigenvalues(dt), true),
    }
    print(
        "one scalar, three damped oscillations: continuous-eigenvalue error Hankel DMD "
        "{hankel_error:.1e}, DMD {dmd_error:.1e}".format(**results["hankel"])
    )
    return dt, true, hankel


def havok_part(results: dict, n_steps: int):
    dt = 0.01
    X = Lorenz63().simulate([-8.0, 8.0, 27.0], n_steps, dt)
    # The forcing lives in small singular values: the thin SVD resolves them, Gram would not.
    model = kk.HankelDMD(delays=20, rank=11, forcing=1, svd="svd").fit(X[:, 0])
    w = model.forcing_[:, 0]
    x = X[19:, 0]  # the newest snapshot of every delay window
    switches = np.where(np.diff(np.sign(x)) != 0)[0]
    active = np.abs(w) > np.quantile(np.abs(w), 0.9)
    # A switch is "announced" when the forcing was active in the preceding half time unit;
    # the baseline is the same fraction for every instant, switch or not.
    window = int(0.5 / dt)
    announced = [bool(active[s - window : s].any()) for s in switches if s >= window]
    baseline = [bool(active[s - window : s].any()) for s in range(window, len(x))]
    results["havok"] = {
        "n_switches": len(announced),
        "announced_fraction": float(np.mean(announced)),
        "baseline_fraction": float(np.mean(baseline)),
    }
    print(
        "Lorenz HAVOK: {announced_fraction:.0%} of {n_switches} lobe switches follow a forcing "
        "burst within 0.5 time units (any instant: {baseline_fraction:.0%})".format(
            **results["havok"]
        )
    )
    return dt, x, w, active


def noise_part(results: dict, n_bags: int):
    dt = 0.01
    t = dt * np.arange(600)
    omega = np.array([-0.1 + 2.0j, -0.3 + 5.0j, -0.05 + 9.0j])
    rng = np.random.default_rng(0)
    modes = rng.normal(size=(3, 40)) + 1j * rng.normal(size=(3, 40))
    X = 2 * np.real(np.exp(np.outer(t, omega)) @ modes)
    X += 0.4 * np.sqrt(np.mean(X**2)) * rng.normal(size=X.shape)
    true = np.concatenate([omega, omega.conj()])
    dmd = kk.DMD(rank=6).fit(X)
    opt = kk.OptDMD(rank=6).fit(X)
    bop = kk.BOPDMD(rank=6, n_bags=n_bags, seed=0).fit(X)
    results["noise"] = {
        "dmd_error": match_error(dmd.continuous_eigenvalues(dt), true),
        "optdmd_error": match_error(opt.continuous_eigenvalues(dt), true),
        "bopdmd_error": match_error(bop.continuous_eigenvalues(dt), true),
        "bopdmd_max_std": float(np.abs(bop.continuous_eigenvalues_std(dt)).max()),
    }
    print(
        "noisy oscillations (noise 40 % of the RMS): eigenvalue error DMD {dmd_error:.1e}, "
        "OptDMD {optdmd_error:.1e}, BOP-DMD {bopdmd_error:.1e} (largest spread "
        "{bopdmd_max_std:.1e})".format(**results["noise"])
    )
    return dt, true, dmd, opt, bop


def selection_part(results: dict):
    rng = np.random.default_rng(2)
    rot = 0.99 * np.array([[np.cos(0.1), -np.sin(0.1)], [np.sin(0.1), np.cos(0.1)]])
    trajs = []
    for _ in range(8):
        slow = np.zeros((150, 2))
        for k in range(149):
            slow[k + 1] = rot @ slow[k] + 0.3 * rng.normal(size=2)
        trajs.append(np.hstack([slow, 3.0 * rng.normal(size=(150, 3))]))
    ranks = [1, 2, 3, 4, 5]
    cv = TrajectoryKFold(4)
    scores = {
        est: np.array([cross_val_score(kk.EDMD(rank=r, estimator=est), trajs, cv) for r in ranks])
        for est in ("pcr", "rrr")
    }
    results["selection"] = {
        "ranks": ranks,
        "pcr": scores["pcr"].mean(axis=1).tolist(),
        "rrr": scores["rrr"].mean(axis=1).tolist(),
    }
    print(
        "held-out VAMP-2 at rank 2: pcr {:.2f}, rrr {:.2f} (the two predictable coordinates "
        "give at most 2)".format(results["selection"]["pcr"][1], results["selection"]["rrr"][1])
    )
    return ranks, scores


def save_figure(paths, hankel, havok, noise, selection) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(12, 8))
    dt, true, model = hankel
    ax = axes[0, 0]
    omega = model.continuous_eigenvalues(dt)
    ax.scatter(true.real, true.imag, marker="+", s=180, color="k", label="true")
    ax.scatter(
        omega.real,
        omega.imag,
        s=60,
        facecolors="none",
        edgecolors="C0",
        label="Hankel DMD, 20 delays",
    )
    ax.set_xlabel("growth rate")
    ax.set_ylabel("angular frequency")
    ax.set_title("Three oscillations from one scalar")
    ax.legend(fontsize=8)

    dt, x, w, active = havok
    ax = axes[0, 1]
    shown = slice(0, int(40 / dt))
    t = dt * np.arange(len(x))[shown]
    ax.plot(t, x[shown], color="0.3", lw=0.8, label="x(t)")
    ax.set_xlabel("t")
    ax.set_ylabel("x")
    twin = ax.twinx()
    twin.plot(t, w[shown], color="C3", lw=0.8, label="forcing w(t)")
    twin.set_ylabel("forcing w", color="C3")
    ax.fill_between(
        t,
        x.min(),
        x.max(),
        where=active[shown],
        color="C3",
        alpha=0.15,
        lw=0,
        label="|w| in its top 10 %",
    )
    ax.set_title("HAVOK on Lorenz x(t): forcing bursts before lobe switches")
    ax.legend(fontsize=7, loc="lower left")

    dt, true, dmd, opt, bop = noise
    ax = axes[1, 0]
    ax.scatter(true.real, true.imag, marker="+", s=180, color="k", label="true", zorder=3)
    d = dmd.continuous_eigenvalues(dt)
    ax.scatter(d.real, d.imag, marker="x", color="C3", label="exact DMD")
    o = opt.continuous_eigenvalues(dt)
    ax.scatter(o.real, o.imag, s=60, facecolors="none", edgecolors="C0", label="OptDMD")
    b, s = bop.continuous_eigenvalues(dt), bop.continuous_eigenvalues_std(dt)
    ax.errorbar(
        b.real,
        b.imag,
        xerr=2 * s.real,
        yerr=2 * s.imag,
        fmt=".",
        color="C2",
        label="BOP-DMD ± 2 std",
    )
    ax.set_xlabel("growth rate")
    ax.set_ylabel("angular frequency")
    ax.set_title("Noisy snapshots (noise 40 % of the RMS)")
    ax.legend(fontsize=8, loc="lower left")
    zoom = ax.inset_axes([0.42, 0.36, 0.27, 0.27])
    near = np.abs(true - (-0.3 + 5j)).argmin()
    zoom.scatter(true.real[near], true.imag[near], marker="+", s=180, color="k", zorder=3)
    zoom.scatter(o.real, o.imag, s=60, facecolors="none", edgecolors="C0")
    zoom.errorbar(b.real, b.imag, xerr=2 * s.real, yerr=2 * s.imag, fmt=".", color="C2")
    zoom.set_xlim(true.real[near] - 0.03, true.real[near] + 0.03)
    zoom.set_ylim(true.imag[near] - 0.03, true.imag[near] + 0.03)
    zoom.set_title("zoom on -0.3 + 5i", fontsize=7)
    zoom.tick_params(labelsize=6)
    ax.indicate_inset_zoom(zoom, edgecolor="0.5")

    ranks, scores = selection
    ax = axes[1, 1]
    for est, color in (("pcr", "C3"), ("rrr", "C0")):
        mean, std = scores[est].mean(axis=1), scores[est].std(axis=1)
        ax.errorbar(
            ranks,
            mean,
            yerr=std,
            marker="o",
            color=color,
            capsize=3,
            label=f'EDMD(estimator="{est}")',
        )
    ax.set_xlabel("rank")
    ax.set_ylabel("held-out VAMP-2 (4 folds)")
    ax.set_title("2 predictable + 3 loud noise coordinates")
    ax.legend(fontsize=8)
    fig.tight_layout()
    for path in paths:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("runs/example09"))
    parser.add_argument("--lorenz-steps", type=int, default=10000)
    parser.add_argument("--bags", type=int, default=50)
    parser.add_argument("--docs-figure", action="store_true", help=f"also write {DOCS_FIGURE}")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    hankel = hankel_part(results)
    havok = havok_part(results, args.lorenz_steps)
    noise = noise_part(results, args.bags)
    selection = selection_part(results)
    paths = [args.out / "delays_and_noise.png"] + ([DOCS_FIGURE] if args.docs_figure else [])
    save_figure(paths, hankel, havok, noise, selection)
    (args.out / "results.json").write_text(json.dumps(results, indent=2))
    print("figure saved to " + ", ".join(str(p) for p in paths))
    print(f"numbers saved to {args.out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
