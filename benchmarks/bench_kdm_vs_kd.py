"""KDM against the KD baseline on the checkerboard, on the teacher's own noises, over seeds.

At 50k samples the sliced Wasserstein distance SW1 between two independent sets of one
distribution is already 0.019 ± 0.004 (data units), so single 50k scores cannot rank two good
students. Evaluated on the *same* noises as a large teacher set, the sampling noise is shared and
cancels: this coupled SW1 ranks students. For one student preset (``--preset``) this script
trains every ``--config`` (``kd`` or ``kdm`` followed by preset overrides) for ``--seeds`` seeds
on the quickstart's pairs — both students on the same pairs, budget, optimiser and networks —
and scores both the EMA and the raw weights (the authors evaluate their checkerboard model's raw
weights) with:

- ``sw_vs_teacher_50k``: SW1 between 50k samples from fresh noise and 50k held-out teacher
  samples (floor-limited);
- ``sw_same_noise``: SW1 between the student's and the teacher's samples of the same
  ``--n-large`` noises;
- ``sw_vs_true``: SW1 against ``--n-large`` points of the true board;
- ``rmse_same_noise``: per-pair error to the teacher's sample of the same noise;
- ``scale``: least-squares factor ``a`` of student ≈ a · teacher (1: no shrinkage);
- ``outliers``: the fraction of outliers among 10k samples by the authors' rule (DBSCAN, eps
  0.15, or a coordinate beyond 3σ; :func:`koopkit_diffusion.evaluation.outliers.outlier_analysis`)
  on 10k held-out noises, beside the teacher's on the same noises (figures of the first seed in
  ``<run>/outliers-<weights>/``);

then mean ± std over seeds, and the per-seed difference of every configuration from the first KD
one. Training time is reported as wall and process CPU seconds. ``--weights ema`` (or ``raw``)
scores one set of weights only; each reference's projections are sorted once
(:class:`~koopkit_diffusion.evaluation.metrics.SlicedReference`).

    koopkit-diffusion quickstart --out runs/quickstart          # teacher and 100k pairs
    python benchmarks/bench_kdm_vs_kd.py --quickstart runs/quickstart --preset checkerboard-fast
    python benchmarks/bench_kdm_vs_kd.py --quickstart runs/quickstart --preset checkerboard \\
        --steps 4000 --out runs/kdm_vs_kd-authors              # the authors' at 1/5 of the steps
    python benchmarks/bench_kdm_vs_kd.py --quickstart runs/quickstart --preset checkerboard-fast \\
        --config kd --config kdm --config "kdm model.sigma_z=0.4 model.w_rec=1"

Runs, the large teacher set, ``<report>.json`` (with the command) and ``<report>.png`` go to
``--out`` (``--report``, default ``kdm_vs_kd``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

KEYS = ("sw_vs_teacher_50k", "sw_same_noise", "sw_vs_true", "rmse_same_noise", "scale", "outliers")
WEIGHTS = ("ema", "raw")


def _parse_config(text: str) -> tuple[str, dict[str, str]]:
    kind, *pairs = text.split()
    if kind not in ("kdm", "kd"):
        raise SystemExit(f"--config must start with 'kdm' or 'kd', got {text!r}")
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--config overrides are KEY=VALUE, got {pair!r} in {text!r}")
        overrides[key] = value
    return kind, overrides


def _score(model, noise, refs, large, held, figure_dir=None) -> dict[str, float]:
    """``refs``: :class:`SlicedReference` of the 50k teacher set, the large one and the board."""
    from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
    from koopkit_diffusion.evaluation.outliers import outlier_analysis

    with torch.no_grad():
        fresh = torch.cat([model.sample(noise=c) for c in noise.split(50_000)])
        same = torch.cat([model.sample(noise=c) for c in large["noise"].split(50_000)])
    teacher = large["sample"]
    return {
        "sw_vs_teacher_50k": sliced_wasserstein(fresh, refs["teacher_50k"]),
        "sw_same_noise": sliced_wasserstein(same, refs["teacher"]),
        "sw_vs_true": sliced_wasserstein(same, refs["true"]),
        "rmse_same_noise": float(torch.sqrt(((same - teacher) ** 2).sum(1).mean())),
        "scale": float((same * teacher).sum() / (teacher * teacher).sum()),
        "outliers": outlier_analysis(model, held["noise"], held["sample"], figure_dir)["model"][
            "fraction"
        ],
    }


def _mean_std(values: list[float]) -> tuple[float, float]:
    return float(np.mean(values)), float(np.std(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", required=True, help="a finished quickstart folder")
    parser.add_argument("--preset", default="checkerboard-fast", help="student preset")
    parser.add_argument("--out", default="runs/kdm_vs_kd")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=None, help="override the preset's steps")
    parser.add_argument("--n-large", type=int, default=400_000)
    parser.add_argument(
        "--config",
        action="append",
        help="'kd' or 'kdm' followed by preset overrides KEY=VALUE (repeatable; default: kd, kdm)",
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report", default="kdm_vs_kd", help="name of the JSON and PNG files")
    parser.add_argument(
        "--weights", choices=("both", *WEIGHTS), default="both", help="which weights to score"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    weight_sets = WEIGHTS if args.weights == "both" else (args.weights,)

    from koopkit.io import recorded_command, write_json
    from koopkit_diffusion.data import checkerboard
    from koopkit_diffusion.evaluation.metrics import SlicedReference, sliced_wasserstein
    from koopkit_diffusion.evaluation.outliers import detect_outliers
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.runs import generate_pair_set, get_preset, train_run

    qs, out = Path(args.quickstart), Path(args.out)
    if not all((qs / d / "manifest.json").is_file() for d in ("pairs", "eval-pairs")):
        raise SystemExit(
            f"{qs} is not a finished quickstart folder (teacher/, pairs/, eval-pairs/)"
        )
    configs = [_parse_config(c) for c in args.config or ["kd", "kdm"]]
    if args.n_large < 50_000:
        raise SystemExit(f"--n-large must be at least 50000, got {args.n_large}")

    t0 = time.perf_counter()
    generate_pair_set(
        qs / "teacher",
        out / "teacher-large",
        args.n_large,
        seed=999,  # independent of the quickstart's training (1) and held-out (2) sets
        batch_size=25_000,
        compute_dtype="float64",
    )
    large = PairDataset(out / "teacher-large")[:]
    teacher_50k = PairDataset(qs / "eval-pairs")[:50_000]["sample"]
    true = checkerboard(args.n_large, seed=5)
    noise = torch.randn(50_000, 2, generator=torch.Generator().manual_seed(12345))
    held = PairDataset(qs / "eval-pairs")[:10_000]
    # each reference's projections sorted once, not once per model (same numbers)
    refs = {
        "teacher_50k": SlicedReference(teacher_50k),
        "teacher": SlicedReference(large["sample"]),
        "true": SlicedReference(true),
    }
    teacher_outliers = detect_outliers(held["sample"])["outlier"].mean()
    print(f"{args.n_large} teacher samples ready in {time.perf_counter() - t0:.0f} s")

    floor_50k = [
        sliced_wasserstein(checkerboard(50_000, seed=200 + i), checkerboard(50_000, seed=300 + i))
        for i in range(3)
    ]
    budget = {"train.progress": "false", "train.checkpoint_every": "100000"}
    if args.steps:
        budget["train.steps"] = str(args.steps)
    rows = []
    for kind, overrides in configs:
        label = " ".join([kind, *(f"{k}={v}" for k, v in overrides.items())])
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            preset = get_preset(args.preset, {**budget, **overrides, "train.seed": str(seed)})
            run = out / (label.replace(" ", "_").replace("=", "-") + f"_seed{seed}")
            t0, c0 = time.perf_counter(), time.process_time()
            res = train_run(preset, run, pairs=qs / "pairs", kind=kind, resume="auto")
            row = {"config": label, "seed": seed, "steps": preset.train.steps}
            row |= {"train_s": time.perf_counter() - t0, "train_cpu_s": time.process_time() - c0}
            ema = res.ema.module if hasattr(res.ema, "module") else res.ema
            for weights, model in zip(WEIGHTS, (ema, res.model), strict=True):
                if weights not in weight_sets:
                    continue
                figures = run / f"outliers-{weights}" if seed == args.first_seed else None
                scores = _score(model.eval(), noise, refs, large, held, figures)
                row |= {f"{weights}/{k}": v for k, v in scores.items()}
            print(json.dumps(row), flush=True)
            rows.append(row)

    labels = list(dict.fromkeys(r["config"] for r in rows))
    summary = {
        label: {
            key: _mean_std([r[key] for r in rows if r["config"] == label])
            for key in (*(f"{w}/{k}" for w in weight_sets for k in KEYS), "train_s", "train_cpu_s")
        }
        for label in labels
    }
    preset = get_preset(args.preset, budget)
    print(f"\npreset {args.preset}: {preset.train.steps} steps × batch {preset.train.batch_size}; "
          f"{args.seeds} seeds, mean ± std; same noise: {args.n_large} noises")  # fmt: skip
    header = ("SW 50k indep.", "SW same noise", "SW vs true", "RMSE same noise", "scale",
              "outliers")  # fmt: skip
    for weights in weight_sets:
        print(f"\n{weights} weights")
        print(f"{'config':34s}" + "".join(f"{h:>18s}" for h in header) + f"{'train s':>9s}")
        for label, s in summary.items():
            cells = "".join(f"{s[f'{weights}/{k}'][0]:>10.4f} ± {s[f'{weights}/{k}'][1]:.4f}"
                            for k in KEYS)  # fmt: skip
            print(f"{label:34s}{cells}{s['train_s'][0]:9.0f}")
    teacher_true = sliced_wasserstein(large["sample"], refs["true"])
    floor = f"{np.mean(floor_50k):.4f} ± {np.std(floor_50k):.4f}"
    print(f"floor of 'SW 50k indep.' (two independent 50k true sets): {floor};"
          f" teacher vs true at {args.n_large}: {teacher_true:.4f}; teacher's outliers on the"
          f" same 10k noises: {teacher_outliers:.4f}")  # fmt: skip
    diffs: dict[str, dict[str, tuple[float, float]]] = {}
    ref = next((label for label in labels if label.split()[0] == "kd"), None)
    if ref is not None:  # every configuration against the first KD one, seed by seed
        for label in labels:
            if label == ref:
                continue
            diffs[label] = {}
            for weights in weight_sets:
                for key in ("sw_same_noise", "rmse_same_noise"):
                    k = f"{weights}/{key}"
                    kd = {r["seed"]: r[k] for r in rows if r["config"] == ref}
                    d = [r[k] - kd[r["seed"]] for r in rows if r["config"] == label]
                    diffs[label][k] = _mean_std(d)
                    diffs[label][k + "/per_seed"] = d
                mean, std = diffs[label][f"{weights}/sw_same_noise"]
                print(f"{label} − {ref}, {weights} weights, SW same noise per seed: "
                      f"{mean:+.5f} ± {std:.5f}")  # fmt: skip
    report = {
        "command": recorded_command(),
        "preset": args.preset,
        "steps": preset.train.steps,
        "batch_size": preset.train.batch_size,
        "rows": rows,
        "summary": summary,
        "floor_50k": floor_50k,
        "teacher_vs_true": teacher_true,
        "teacher_outliers": float(teacher_outliers),
        "minus_first_kd": diffs,
        "n_large": args.n_large,
    }
    write_json(report, out / f"{args.report}.json")
    _figure(out / f"{args.report}.png", summary, args.n_large, weight_sets)
    print(f"wrote {out}/{args.report}.json and {args.report}.png")


def _figure(path: Path, summary: dict, n_large: int, weight_sets=WEIGHTS) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary)
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    x = np.arange(len(labels))
    for ax, key, title in (
        (axes[0], "sw_same_noise", f"SW1 to the teacher, same {n_large} noises"),
        (axes[1], "rmse_same_noise", "RMSE to the teacher's sample of the same noise"),
        (axes[2], "sw_vs_true", f"SW1 to the true board ({n_large} points)"),
    ):
        for i, weights in enumerate(weight_sets):
            means = [summary[label][f"{weights}/{key}"][0] for label in labels]
            stds = [summary[label][f"{weights}/{key}"][1] for label in labels]
            ax.bar(
                x + (i - (len(weight_sets) - 1) / 2) * 0.4,
                means,
                0.4,
                yerr=stds,
                capsize=3,
                label=weights,
            )
        ax.set_xticks(x, labels, rotation=15, ha="right", fontsize=8)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
