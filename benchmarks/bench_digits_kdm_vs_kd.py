"""KDM against the KD baseline on 8×8 digits at example 05's ``--quick`` budget, over seeds.

The setting of ``examples/05_digits_kdm.py --quick``: the ``teacher-digits`` teacher trained
800 steps, 6000 training pairs (seed 1) and 1000 held-out pairs (seed 2), students trained 600
steps with the ``digits`` preset (class-conditional). For every ``--config`` (``kd`` or ``kdm``
followed by preset overrides) and seed, it trains the student on the same pairs and scores the
EMA weights on the held-out noises and labels: classifier-FID against the real digits (the
features of the project's digits classifier), and the MSE to the teacher's samples of the same
noises. Prints mean ± std over seeds, the per-seed difference from the first KD configuration,
and writes ``--out/digits_kdm_vs_kd.json`` (with the command). The teacher, pairs, classifier and
runs are cached in ``--out`` and reused.

    python benchmarks/bench_digits_kdm_vs_kd.py --out runs/digits-bench --seeds 3
    python benchmarks/bench_digits_kdm_vs_kd.py --out runs/digits-bench \\
        --config kd --config kdm --config "kdm model.sigma_z=0.02 model.w_rec=0.1"
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def _parse_config(text: str) -> tuple[str, dict[str, str]]:
    kind, *pairs = text.split()
    if kind not in ("kdm", "kd"):
        raise SystemExit(f"--config must start with 'kdm' or 'kd', got {text!r}")
    return kind, dict(pair.split("=", 1) for pair in pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/digits-bench")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--teacher-steps", type=int, default=800)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--n-pairs", type=int, default=6000)
    parser.add_argument("--n-eval", type=int, default=1000)
    parser.add_argument("--config", action="append", help="default: kd, kdm")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from koopkit.io import recorded_command, write_json
    from koopkit_diffusion.data import digits
    from koopkit_diffusion.evaluation.classifier import classifier_fid, load_digits_classifier
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.runs import generate_pair_set, get_preset, train_run

    out = Path(args.out)
    configs = [_parse_config(c) for c in args.config or ["kd", "kdm"]]
    teacher_sets = {"train.steps": str(args.teacher_steps), "train.progress": "false"}
    t0 = time.perf_counter()
    train_run("teacher-digits", out / "teacher", overrides=teacher_sets, resume="auto")
    generate_pair_set(out / "teacher", out / "pairs", args.n_pairs, seed=1, batch_size=1000)
    generate_pair_set(out / "teacher", out / "eval-pairs", args.n_eval, seed=2, batch_size=1000)
    held = PairDataset(out / "eval-pairs")[:]
    classifier = load_digits_classifier(out)
    real = digits("all")[0]
    teacher_fid = classifier_fid(classifier, held["sample"], real)
    print(f"teacher, pairs and classifier ready in {time.perf_counter() - t0:.0f} s; "
          f"teacher classifier-FID {teacher_fid:.3f}")  # fmt: skip

    budget = {"train.steps": str(args.steps), "train.log_every": "50",
              "train.checkpoint_every": "100000", "train.progress": "false"}  # fmt: skip
    rows = []
    for kind, overrides in configs:
        label = " ".join([kind, *(f"{k}={v}" for k, v in overrides.items())])
        for seed in range(args.seeds):
            preset = get_preset("digits", {**budget, **overrides, "train.seed": str(seed)})
            run = out / (label.replace(" ", "_").replace("=", "-") + f"_seed{seed}")
            t0, c0 = time.perf_counter(), time.process_time()
            res = train_run(preset, run, pairs=out / "pairs", kind=kind, resume="auto")
            row = {"config": label, "seed": seed, "train_s": time.perf_counter() - t0,
                   "train_cpu_s": time.process_time() - c0}  # fmt: skip
            model = (res.ema.module if hasattr(res.ema, "module") else res.ema).eval()
            x = model.sample(noise=held["noise"], labels=held["label"])
            row["classifier_fid"] = classifier_fid(classifier, x, real)
            row["mse_vs_teacher"] = float(torch.mean((x - held["sample"]) ** 2))
            print(json.dumps(row), flush=True)
            rows.append(row)

    labels = list(dict.fromkeys(r["config"] for r in rows))
    keys = ("classifier_fid", "mse_vs_teacher", "train_s", "train_cpu_s")
    summary = {
        label: {
            k: (
                float(np.mean([r[k] for r in rows if r["config"] == label])),
                float(np.std([r[k] for r in rows if r["config"] == label])),
            )
            for k in keys
        }
        for label in labels
    }
    print(f"\ndigits, {args.steps} steps, {args.n_pairs} pairs, {args.n_eval} held-out noises; "
          f"{args.seeds} seeds, mean ± std; teacher classifier-FID {teacher_fid:.3f}")  # fmt: skip
    print(f"{'config':44s}{'classifier-FID':>20s}{'MSE to teacher':>22s}{'train s':>9s}")
    for label, s in summary.items():
        fid, err = s["classifier_fid"], s["mse_vs_teacher"]
        print(f"{label:44s}{fid[0]:>11.3f} ± {fid[1]:.3f}{err[0]:>13.4f} ± {err[1]:.4f}"
              f"{s['train_s'][0]:9.0f}")  # fmt: skip
    diffs = {}
    ref = next((label for label in labels if label.split()[0] == "kd"), None)
    if ref is not None:
        for label in labels:
            if label == ref:
                continue
            diffs[label] = {}
            for k in ("classifier_fid", "mse_vs_teacher"):
                base = {r["seed"]: r[k] for r in rows if r["config"] == ref}
                d = [r[k] - base[r["seed"]] for r in rows if r["config"] == label]
                diffs[label][k] = (float(np.mean(d)), float(np.std(d)))
                diffs[label][k + "/per_seed"] = d
            fid, err = diffs[label]["classifier_fid"], diffs[label]["mse_vs_teacher"]
            print(f"{label} − {ref}: classifier-FID {fid[0]:+.3f} ± {fid[1]:.3f}, "
                  f"MSE {err[0]:+.4f} ± {err[1]:.4f}")  # fmt: skip
    report = {
        "command": recorded_command(),
        "teacher_classifier_fid": teacher_fid,
        "steps": args.steps,
        "n_pairs": args.n_pairs,
        "n_eval": args.n_eval,
        "rows": rows,
        "summary": summary,
        "minus_first_kd": diffs,
    }
    write_json(report, out / "digits_kdm_vs_kd.json")
    print(f"wrote {out}/digits_kdm_vs_kd.json")


if __name__ == "__main__":
    main()
