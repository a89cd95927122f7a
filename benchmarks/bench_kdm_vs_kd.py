"""KDM against the KD baseline on the checkerboard, resolved below the 50k sampling floor.

At 50k samples the sliced Wasserstein distance SW1 between two independent sets of one
distribution is already 0.019 ± 0.004 (data units), so single 50k scores cannot rank two good
students. This script trains KDM and the KD baseline with the quickstart's budget (same pairs,
loss, steps, batch, learning rate, EMA) for several seeds and scores each against a large
held-out teacher set (``--n-large``, default 400k: floor ≈ 0.006), beside the 50k score, SW1
against the true board, and the per-pair error (RMSE to the teacher's sample of the same noise).
It prints mean ± std over seeds and the per-seed difference of every configuration from KD.

    koopkit-diffusion quickstart --out runs/quickstart          # teacher and 100k pairs
    python benchmarks/bench_kdm_vs_kd.py --quickstart runs/quickstart --seeds 2
    python benchmarks/bench_kdm_vs_kd.py --quickstart runs/quickstart \
        --config kd --config kdm --config "kdm model.w_push=0"

Runs, the large teacher set, ``kdm_vs_kd.json`` and ``kdm_vs_kd.png`` go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch


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


def _score(model, noise, teacher, true, held) -> dict[str, float]:
    from koopkit_diffusion.metrics import sliced_wasserstein

    with torch.no_grad():
        x = torch.cat([model.sample(noise=c) for c in noise.split(50_000)])
        same = torch.cat([model.sample(noise=c) for c in held["noise"].split(50_000)])
    n50 = 50_000
    return {
        "sw_vs_teacher_50k": sliced_wasserstein(x[:n50], teacher[:n50]),
        "sw_vs_teacher": sliced_wasserstein(x, teacher),
        "sw_vs_true": sliced_wasserstein(x, true),
        "rmse_same_noise": float(torch.sqrt(((same - held["sample"]) ** 2).sum(1).mean())),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quickstart", required=True, help="a finished quickstart folder")
    parser.add_argument("--out", default="runs/kdm_vs_kd")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-large", type=int, default=400_000)
    parser.add_argument(
        "--config",
        action="append",
        help="'kd' or 'kdm' followed by preset overrides KEY=VALUE (repeatable; "
        "default: kd, kdm, 'kdm model.sigma_z=0.1')",
    )
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from koopkit.io import write_json
    from koopkit_diffusion.data import checkerboard
    from koopkit_diffusion.kdm_run import train_model
    from koopkit_diffusion.metrics import sliced_wasserstein
    from koopkit_diffusion.pairs import PairDataset, generate_pairs
    from koopkit_diffusion.presets import get_preset
    from koopkit_diffusion.quickstart import QuickstartConfig
    from koopkit_diffusion.teacher import load_teacher

    qs, out = Path(args.quickstart), Path(args.out)
    if not (qs / "teacher").is_dir() or not (qs / "pairs" / "manifest.json").is_file():
        raise SystemExit(f"{qs} is not a finished quickstart folder (teacher/ and pairs/)")
    configs = [_parse_config(c) for c in args.config or ["kd", "kdm", "kdm model.sigma_z=0.1"]]
    if args.n_large < 50_000:
        raise SystemExit(f"--n-large must be at least 50000, got {args.n_large}")

    t0 = time.perf_counter()
    generate_pairs(
        load_teacher(qs / "teacher"),
        out / "teacher-large",
        args.n_large,
        seed=999,  # independent of the quickstart's training (1) and held-out (2) sets
        shape=(2,),
        batch_size=25_000,
        compute_dtype="float64",
    )
    large = PairDataset(out / "teacher-large")[:]
    teacher = large["sample"]
    held = {k: v[:100_000] for k, v in large.items()}  # same-noise pairs for the RMSE
    true = checkerboard(args.n_large, seed=5)
    noise = torch.randn(args.n_large, 2, generator=torch.Generator().manual_seed(12345))
    print(f"{args.n_large} teacher samples ready in {time.perf_counter() - t0:.0f} s")

    floors = {
        n: [
            sliced_wasserstein(checkerboard(n, seed=200 + i), checkerboard(n, seed=300 + i))
            for i in range(3)
        ]
        for n in (50_000, args.n_large)
    }
    pairs = PairDataset(qs / "pairs")
    budget = {**QuickstartConfig().kdm_overrides, "train.progress": "false"}
    rows = []
    for kind, overrides in configs:
        label = " ".join([kind, *(f"{k}={v}" for k, v in overrides.items())])
        for seed in range(args.seeds):
            preset = get_preset("checkerboard", {**budget, **overrides, "train.seed": str(seed)})
            run = out / (label.replace(" ", "_").replace("=", "-") + f"_seed{seed}")
            shutil.rmtree(run, ignore_errors=True)
            t0 = time.perf_counter()
            res = train_model(preset, pairs, run, kind=kind)
            train_s = time.perf_counter() - t0
            model = res.ema if isinstance(res.ema, torch.nn.Module) else res.model
            model = getattr(model, "module", model).eval()
            row = {"config": label, "seed": seed, "train_s": train_s}
            row |= _score(model, noise, teacher, true, held)
            print(json.dumps(row), flush=True)
            rows.append(row)

    keys = ("sw_vs_teacher_50k", "sw_vs_teacher", "sw_vs_true", "rmse_same_noise", "train_s")
    labels = list(dict.fromkeys(r["config"] for r in rows))
    summary = {}
    for label in labels:
        sel = [r for r in rows if r["config"] == label]
        summary[label] = {
            k: (float(np.mean([r[k] for r in sel])), float(np.std([r[k] for r in sel])))
            for k in keys
        }
    steps, batch = budget["train.steps"], budget["train.batch_size"]
    print(f"\nbudget: the quickstart's ({steps} steps, batch {batch}) unless a config overrides it;"
          f" {args.seeds} seeds, mean ± std;"
          f" SW1 vs teacher at 50k and at {args.n_large}")  # fmt: skip
    print(f"{'config':28s} {'SW 50k':>16s} {'SW large':>16s} {'SW vs true':>16s} "
          f"{'RMSE same noise':>16s} {'train s':>8s}")  # fmt: skip
    for label, s in summary.items():
        cells = " ".join(f"{s[k][0]:.4f} ± {s[k][1]:.4f}" for k in keys[:4])
        print(f"{label:28s} {cells} {s['train_s'][0]:8.0f}")
    for n, f in floors.items():
        print(f"floor, two independent {n} true sets: {np.mean(f):.4f} ± {np.std(f):.4f}")
    print(f"teacher vs true at {args.n_large}: {sliced_wasserstein(teacher, true):.4f}")
    diffs = {}
    ref = next((label for label in labels if label.split()[0] == "kd"), None)
    if ref is not None:  # every configuration against the first KD one, seed by seed
        kd = {r["seed"]: r["sw_vs_teacher"] for r in rows if r["config"] == ref}
        for label in labels:
            if label != ref:
                d = [r["sw_vs_teacher"] - kd[r["seed"]] for r in rows if r["config"] == label]
                diffs[label] = (float(np.mean(d)), float(np.std(d)))
                mean, std = diffs[label]
                print(f"{label} − {ref}, SW1 vs teacher (large), per seed: {mean:+.4f} ± {std:.4f}")
    report = {"rows": rows, "summary": summary, "floors": floors, "minus_first_kd": diffs,
              "budget": budget, "n_large": args.n_large}  # fmt: skip
    write_json(report, out / "kdm_vs_kd.json")
    _figure(out / "kdm_vs_kd.png", summary, floors, args.n_large)
    print(f"wrote {out}/kdm_vs_kd.json and kdm_vs_kd.png")


def _figure(path: Path, summary: dict, floors: dict, n_large: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary)
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, key, title in (
        (axes[0], "sw_vs_teacher", f"SW1 vs teacher ({n_large} samples)"),
        (axes[1], "rmse_same_noise", "RMSE to the teacher's sample of the same noise"),
    ):
        means = [summary[label][key][0] for label in labels]
        stds = [summary[label][key][1] for label in labels]
        ax.bar(range(len(labels)), means, yerr=stds, capsize=4, color="C0")
        ax.set_xticks(range(len(labels)), labels, rotation=15, ha="right", fontsize=8)
        ax.set_title(title)
    axes[0].axhline(np.mean(floors[n_large]), color="k", ls="--", lw=1, label="floor")
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
