"""Digits targets: KDM vs the KD baseline vs the teacher, at equal budget, and the latent claim.

Trains (or reuses, when the folders exist) an *unconditional* digits teacher, generates its pair
set, trains unconditional KDM and KD with the ``digits`` preset (``model.label_dim=0``; the same
pairs and step budget for both), then runs
``examples/07_digits_analysis.py`` and prints the ratios behind the targets of the evaluation
issue:

- classifier-FID(KDM) / classifier-FID(KD)       (target < 1)
- classifier-FID(KDM) / classifier-FID(teacher)  (target ≤ 3)
- k-NN label agreement, KDM latent vs raw noise  (target: latent higher)

Usage (GPU recommended; the defaults are the presets' budgets)::

    python benchmarks/bench_digits_eval.py --out runs/digits-bench
    python benchmarks/bench_digits_eval.py --out /tmp/d --teacher-steps 20 --pairs 512 \\
        --steps 20 --n 300     # smoke run on a CPU
"""

from __future__ import annotations

import argparse
import json
import runpy
import time
from pathlib import Path

import torch

from koopkit_diffusion.runs import generate_pair_set, get_preset, train_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True)
    parser.add_argument(
        "--teacher-steps", type=int, default=get_preset("teacher-digits-uncond").train.steps
    )
    parser.add_argument("--pairs", type=int, default=50_000, help="pairs of the training set")
    parser.add_argument("--steps", type=int, default=None, help="KDM/KD steps (preset default)")
    parser.add_argument("--n", type=int, default=2000, help="samples per generator")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    out = Path(args.out)
    timings = {}
    start = time.perf_counter()
    device = "cuda" if args.device.startswith("cuda") else "cpu"
    teacher_sets = {
        "train.steps": str(args.teacher_steps),
        "train.progress": "false",
        "train.device": device,
    }
    train_run("teacher-digits-uncond", out / "teacher", overrides=teacher_sets, resume="auto")
    timings["teacher_s"] = time.perf_counter() - start

    start = time.perf_counter()
    generate_pair_set(
        out / "teacher", out / "pairs", args.pairs, batch_size=4096, device=args.device,
        progress=False,
    )  # fmt: skip
    timings["pairs_s"] = time.perf_counter() - start
    print(f"teacher and pairs: {timings}", flush=True)

    # Unconditional students: with labels, the latent holds B·y and the latent–semantic claim
    # would be measured on the labels rather than on the Koopman latent.
    overrides = {"model.label_dim": "0", "train.device": device}
    if args.steps is not None:
        overrides["train.steps"] = str(args.steps)
    for kind in ("kdm", "kd"):
        start = time.perf_counter()
        train_run(
            "digits", out / kind, pairs=out / "pairs", kind=kind, overrides=overrides,
            resume="auto",
        )  # fmt: skip
        timings[f"{kind}_s"] = time.perf_counter() - start
        print(f"{kind} trained: {timings}", flush=True)

    example = Path(__file__).resolve().parents[1] / "examples" / "07_digits_analysis.py"
    report = runpy.run_path(str(example))["main"](
        [
            "--teacher",
            str(out / "teacher"),
            "--kdm",
            str(out / "kdm"),
            "--kd",
            str(out / "kd"),
            "--n",
            str(args.n),
            "--cache-dir",
            str(out / "cache"),
        ]
    )
    scores, prox = report["scores"], report["analysis"]["latent_semantic"]
    ratios = {
        "cfid_kdm_over_kd": scores["KDM"]["classifier_fid"] / scores["KD"]["classifier_fid"],
        "cfid_kdm_over_teacher": scores["KDM"]["classifier_fid"]
        / scores["teacher"]["classifier_fid"],
        "knn_agreement_latent_over_noise": prox["knn_agreement_latent"]
        / prox["knn_agreement_noise"],
    }
    print(json.dumps({"ratios": ratios, "timings_s": timings}, indent=2))


if __name__ == "__main__":
    main()
