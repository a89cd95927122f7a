"""Merge reports of ``bench_kdm_vs_kd.py`` (e.g. one per seed, run in parallel) into one.

Every report must come from the same preset, step budget and large teacher set; a
(configuration, seed) present twice is refused. The merged report holds all rows, the mean ±
std over seeds of every configuration, and each configuration's per-seed difference from the
*base of its own kind* — the plain ``kd`` or ``kdm`` row of the same seed — so an ablation
reads as "this one field at the other value changes SW1 by ... on the same seeds":

    python benchmarks/bench_kdm_vs_kd.py ... --first-seed 0 --seeds 1 --report part0
    python benchmarks/bench_kdm_vs_kd.py ... --first-seed 1 --seeds 1 --report part1
    python benchmarks/merge_kdm_vs_kd.py runs/out/part0.json runs/out/part1.json \\
        --out docs/guide/results/fast_ablations.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

SAME = ("preset", "steps", "batch_size", "n_large")


def merge(reports: list[dict]) -> dict:
    """The merged report of several ``bench_kdm_vs_kd.py`` reports (see the module docstring)."""
    if not reports:
        raise ValueError("no report to merge")
    for key in SAME:
        values = {json.dumps(r.get(key)) for r in reports}
        if len(values) > 1:
            raise ValueError(f"the reports differ in {key!r}: {sorted(values)}; expected one")
    rows, seen = [], set()
    for report in reports:
        for row in report["rows"]:
            key = (row["config"], row["seed"])
            if key in seen:
                raise ValueError(f"configuration {key[0]!r} seed {key[1]} appears twice")
            seen.add(key)
            rows.append(row)
    metrics = sorted({k for r in rows for k in r if "/" in k and isinstance(r[k], float)})
    labels = list(dict.fromkeys(r["config"] for r in rows))
    summary = {}
    for label in labels:
        mine = [r for r in rows if r["config"] == label]
        summary[label] = {"seeds": sorted(r["seed"] for r in mine)}
        for k in (*metrics, "train_cpu_s"):
            values = [r[k] for r in mine if k in r]
            summary[label][k] = [float(np.mean(values)), float(np.std(values))]
    effects = {}
    for label in labels:
        kind = label.split()[0]
        if label == kind or kind not in labels:
            continue
        base = {r["seed"]: r for r in rows if r["config"] == kind}
        mine = [r for r in rows if r["config"] == label and r["seed"] in base]
        effects[label] = {"seeds": [r["seed"] for r in mine]}
        for k in metrics:
            d = [r[k] - base[r["seed"]][k] for r in mine]
            effects[label][k] = [float(np.mean(d)), float(np.std(d))]
            effects[label][k + "/per_seed"] = d
    first = reports[0]
    return {
        **{key: first.get(key) for key in SAME},
        "commands": [r.get("command") for r in reports],
        "rows": rows,
        "summary": summary,
        "minus_base_of_same_kind": effects,
        "floor_50k": first.get("floor_50k"),
        "teacher_vs_true": first.get("teacher_vs_true"),
        "teacher_outliers": first.get("teacher_outliers"),
    }


def _short(label: str) -> str:
    """A configuration label on a few lines, without the section prefixes."""
    kind, *overrides = label.replace("model.", "").replace("train.", "").split()
    lines = [kind] + [" ".join(overrides[i : i + 2]) for i in range(0, len(overrides), 2)]
    return "\n".join(lines)


def figure(merged: dict, path: Path, weights: str = "ema") -> None:
    """Bars of SW1 and RMSE on the teacher's noises (mean ± std over seeds) per configuration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = merged["summary"]
    labels = [k for k in summary if f"{weights}/sw_same_noise" in summary[k]]
    # configurations whose score is off the scale (e.g. an EMA that still holds the initial
    # weights) are listed in the title instead of flattening every other bar
    typical = float(np.median([summary[k][f"{weights}/sw_same_noise"][0] for k in labels]))
    off = [k for k in labels if summary[k][f"{weights}/sw_same_noise"][0] > 20 * typical]
    labels = [k for k in labels if k not in off]
    fig, axes = plt.subplots(1, 2, figsize=(12, 0.5 * len(labels) + 1.6), sharey=True)
    y = np.arange(len(labels))
    for ax, key, title in (
        (axes[0], "sw_same_noise", f"SW1 to the teacher, same noises ({weights} weights)"),
        (axes[1], "rmse_same_noise", "RMSE to the teacher's sample of the same noise"),
    ):
        means = [summary[k][f"{weights}/{key}"][0] for k in labels]
        stds = [summary[k][f"{weights}/{key}"][1] for k in labels]
        colors = ["tab:blue" if k.split()[0] == "kd" else "tab:orange" for k in labels]
        ax.barh(y, means, xerr=stds, color=colors, capsize=3)
        ax.set_title(title, fontsize=10)
    axes[0].set_yticks(y, [_short(k) for k in labels], fontsize=7)
    axes[0].invert_yaxis()  # shared: the first configuration on top in both panels
    if off:
        fig.suptitle("off the scale, not drawn: " + "; ".join(off), fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="+", type=Path, help="report JSON files")
    parser.add_argument("--out", type=Path, required=True, help="merged JSON file")
    parser.add_argument("--figure", type=Path, help="PNG: SW1 and RMSE on the same noises")
    parser.add_argument(
        "--weights", choices=("ema", "raw"), default="ema", help="weights drawn and printed"
    )
    args = parser.parse_args()
    from koopkit.io import recorded_command, write_json

    reports = []
    for path in args.reports:
        try:
            reports.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise SystemExit(f"cannot read the report {path}: {err}") from None
    try:
        merged = merge(reports)
    except ValueError as err:
        raise SystemExit(str(err)) from None
    merged["command"] = recorded_command()
    write_json(merged, args.out)
    if args.figure:
        figure(merged, args.figure, args.weights)
    for label, s in merged["summary"].items():
        sw = s.get(f"{args.weights}/sw_same_noise")
        rmse = s.get(f"{args.weights}/rmse_same_noise")
        cells = f"{sw[0]:.4f} ± {sw[1]:.4f} / {rmse[0]:.4f} ± {rmse[1]:.4f}" if sw else "-"
        effect = merged["minus_base_of_same_kind"].get(label, {})
        effect = effect.get(f"{args.weights}/sw_same_noise")
        extra = f"   vs base {effect[0]:+.4f} ± {effect[1]:.4f}" if effect else ""
        print(f"{label:60s} seeds {s['seeds']}  SW1 / RMSE ({args.weights}) {cells}{extra}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
