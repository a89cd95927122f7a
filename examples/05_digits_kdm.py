"""KDM on 8×8 digits: a class-conditional teacher → pairs → KDM and the KD baseline → grids
========================================================================================


Trains the ``digits`` EDM teacher (a small class-conditional UNet), generates noise→sample pairs
with its 18-step Heun sampler (35 evaluations), trains a conditional KDM (label embedding + control
term ``B·y``) and the KD baseline on them with the ``digits`` preset, and compares the three with
the classifier-FID (Fréchet distance in the features of a small digits classifier) against the
real digits, with NFE and sampling time for each, then runs the analyses of the KDM latent
(latent–semantic proximity in classifier features, representability of the teacher's flow) into
``analysis/``. Writes one sample grid per model (one row per class) and ``results.json``.

    python examples/05_digits_kdm.py --quick        # ≈ 16 minutes on two cores
    python examples/05_digits_kdm.py                # longer teacher and students (GPU)

``--quick`` trains the teacher for 800 steps and each student for 600 steps on 6000 pairs.
Measured on two cores (teacher 2 min, pairs 1 min, KDM 8.9 min, KD 4.5 min): classifier-FID
teacher 2.35, KDM 2.94, KD 2.52 on 1000 held-out noises. Such short runs need the EMA warm-up of
the ``digits`` preset: without it the average kept about half of the initial weights and both
students drew washed-out digits (classifier-FID ≈ 700).

Results
-------
Samples of a digits teacher, KDM and KD from the same noises (scored by example 07; numbers in
:doc:`/guide/10-evaluation` and, over seeds at this example's ``--quick`` budget, in
:doc:`/guide/08-kdm`):

.. image:: /guide/figures/10-digits-samples.png
   :alt: digits drawn by the teacher, KDM and KD from the same noises
"""

# sphinx_gallery_thumbnail_path = "guide/figures/10-digits-samples.png"

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

TITLE = "KDM on 8×8 digits: a class-conditional teacher → pairs → KDM and the KD baseline → grids"


def main() -> None:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--workdir", default="runs/example05")
    parser.add_argument("--quick", action="store_true", help="small budgets (≈ 16 min, 2 cores)")
    parser.add_argument("--teacher-steps", type=int, default=None, help="override the budget")
    parser.add_argument("--steps", type=int, default=None, help="student steps (override)")
    parser.add_argument("--n-pairs", type=int, default=None, help="training pairs (override)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from koopkit_diffusion.data import digits
    from koopkit_diffusion.evaluation import analyze_model
    from koopkit_diffusion.evaluation.classifier import classifier_fid, load_digits_classifier
    from koopkit_diffusion.evaluation.plots import plot_samples
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.runs import generate_pair_set, get_preset, load_teacher, train_run

    work = Path(args.workdir)
    teacher_overrides = {}
    n_pairs, n_eval, steps = 50_000, 5_000, None
    if args.quick:
        teacher_overrides["train.steps"] = "800"
        n_pairs, n_eval, steps = 6_000, 1_000, 600
    if args.teacher_steps:
        teacher_overrides["train.steps"] = str(args.teacher_steps)
    n_pairs, steps = args.n_pairs or n_pairs, args.steps or steps
    n_eval = min(n_eval, n_pairs)
    t0 = time.perf_counter()
    train_run("teacher-digits", work / "teacher", overrides=teacher_overrides, resume="auto")
    teacher = load_teacher(work / "teacher")
    generate_pair_set(work / "teacher", work / "pairs", n_pairs, seed=1, batch_size=1000)
    generate_pair_set(work / "teacher", work / "eval-pairs", n_eval, seed=2, batch_size=1000)
    print(f"teacher and pairs ready in {time.perf_counter() - t0:.0f} s")

    overrides = {"train.checkpoint_every": "100000"}
    if steps:
        overrides.update({"train.steps": str(steps), "train.log_every": "50"})
    preset = get_preset("digits", overrides)
    held = PairDataset(work / "eval-pairs")[:]
    classifier = load_digits_classifier(work)
    real = digits("all")[0]
    t0 = time.perf_counter()
    with torch.no_grad():
        teacher_grid_samples(teacher, held["noise"], held["label"])
    results = {
        "teacher": {
            "nfe": 35,
            "sample_s": time.perf_counter() - t0,
            "classifier_fid": classifier_fid(classifier, held["sample"], real),
        }
    }
    models = {}
    grid_labels = torch.arange(100) % 10
    grid_noise = held["noise"][:100]
    grids = {}
    for kind in ("kdm", "kd"):
        t0 = time.perf_counter()
        res = train_run(preset, work / kind, pairs=work / "pairs", kind=kind, resume="auto")
        train_s = time.perf_counter() - t0
        model = models[kind] = res.ema.module if hasattr(res.ema, "module") else res.ema
        t0 = time.perf_counter()
        x = model.sample(noise=held["noise"], labels=held["label"])
        results[kind] = {
            "nfe": 1,
            "sample_s": time.perf_counter() - t0,
            "classifier_fid": classifier_fid(classifier, x, real),
            "mse_vs_teacher": float(torch.mean((x - held["sample"]) ** 2)),
            "train_s": train_s,
        }
        grids[kind] = model.sample(noise=grid_noise, labels=grid_labels)
        print(f"{kind.upper()}: classifier-FID {results[kind]['classifier_fid']:.3f}, "
              f"MSE to teacher {results[kind]['mse_vs_teacher']:.4f}")  # fmt: skip
    print(f"teacher (35 NFE): classifier-FID {results['teacher']['classifier_fid']:.3f}")
    for name, r in results.items():
        print(f"{name.upper():8s} NFE {r['nfe']:>2d}  sampling {len(held['noise'])} digits: "
              f"{r['sample_s']:.2f} s")  # fmt: skip
    results["analysis"] = analyze_model(
        models["kdm"], teacher, work / "analysis", classifier=classifier, n=min(2000, n_eval)
    )
    prox = results["analysis"]["latent_semantic"]
    print(f"k-NN label agreement: KDM latent {prox['knn_agreement_latent']:.3f}, raw noise "
          f"{prox['knn_agreement_noise']:.3f} (analyses in {work / 'analysis'})")  # fmt: skip
    grids["teacher"] = teacher_grid_samples(teacher, grid_noise, grid_labels)
    for name, x in grids.items():
        plot_samples(x, work / f"{name}-grid.png", labels=grid_labels, title=name.upper())
    (work / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {work}/results.json and {', '.join(f'{k}-grid.png' for k in grids)}")


def teacher_grid_samples(teacher, noise: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The teacher's 35-evaluation samples from the same noise and labels as the students."""
    from koopkit_diffusion.edm import heun_sample

    return heun_sample(
        teacher, noise, 18, labels=labels, sigma_min=teacher.sigma_min, sigma_max=teacher.sigma_max
    ).samples


if __name__ == "__main__":
    main()
