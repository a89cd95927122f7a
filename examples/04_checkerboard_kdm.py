"""KDM on the 2-D checkerboard: teacher → 35-NFE pairs → KDM and the KD baseline → SW1, outliers
=============================================================================================

The default configuration is the fastest good one found on two CPU cores (``checkerboard-fast``
for 20k steps with the learning rate decayed to 0, KDM without latent noise); ``--paper`` trains
the authors' configuration instead (the ``checkerboard`` preset: SiLU MLPs of width 256,
latent 256, batch 4096, 20k steps, lr 3e-4; scored on its raw weights, as the authors do: its
EMA of 0.9999 without warm-up still holds 13.5 % of the initial weights after 20k steps).
Both students get the same pairs, reconstruction loss, optimiser and step budget (KDM's own
latent noise and loss weights are set in ``BEST``). Scores are SW1 (512 directions) between
50k one-step samples (from fresh noise) and 50k held-out teacher samples, beside the floor of two
independent 50k true sets, with NFE and sampling time for each. Every SW1 is printed twice: in the
units of ``data.checkerboard`` (the board divided by 0.45; floor 0.019 ± 0.004) and in the
board's own ``[-2, 2]²`` units (× 0.45; floor 0.0084 ± 0.0016, where ≈ 0.0096 is usually quoted).
Beside them, SW1 and RMSE against the teacher's samples of the *same* held-out noises
(:func:`koopkit_diffusion.evaluation.same_noise_scores`): no floor, so they rank two students
that both sit at it. Then the authors' outlier analysis
(:func:`koopkit_diffusion.evaluation.outliers.outlier_analysis`: DBSCAN and z-scores on 10k
samples of each student and of the teacher from the same noises, with the noises the outliers
come from) and the analyses of the KDM latent (latent–semantic proximity, representability of
the teacher's flow, the noise-space partition) go into ``analysis-<tag>-seed<seed>/``.

    python examples/04_checkerboard_kdm.py                      # best configuration
    python examples/04_checkerboard_kdm.py --paper              # the authors' configuration
    python examples/04_checkerboard_kdm.py --workdir runs/ex04 --steps 2000   # shorter
    python examples/04_checkerboard_kdm.py --teacher-run runs/quickstart/teacher

The teacher and the pair sets are cached in ``--workdir`` and reused by later runs. Writes
``results-<tag>-seed<seed>.json`` (``tag``: ``best`` or ``paper``) and one sample figure per model
(``teacher-<tag>-seed<seed>.png``, ``kdm-...``, ``kd-...``) there.

Results
-------
The KDM guide (:doc:`/guide/08-kdm`, *Example 04*) gives this example's numbers and the
comparison of KDM and KD over seeds. The quickstart runs the same pipeline at a smaller budget
(its figure, from ``docs/guide/results/quickstart_metrics.json``'s run):

.. image:: /guide/figures/quickstart.png
   :alt: true board, teacher, KDM and KD samples, training losses and the KDM operator's spectrum
"""

# sphinx_gallery_thumbnail_path = "guide/figures/quickstart.png"

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

#: Best configuration found for ≤ 20 minutes on two cores (see the KDM guide), as overrides of
#: the ``checkerboard-fast`` preset (MLPs width 128, depth 3, latent 64, ReLU, batch 1024,
#: lr 2e-3, EMA 0.999 with warm-up, KDM's w_rec 0.1).
BEST = {
    "train.steps": "20000",
    # Decaying to zero removes the 0.5 % shrinkage of an EMA over weights still jumping at
    # lr 2e-3: SW1 on the teacher's noises 0.0098 → 0.0011 (KD), 0.0118 → 0.0013 (KDM).
    "train.lr_decay": "cosine",
    # KDM only (KD has no latent): without latent noise and with a light reconstruction term,
    # KDM comes within a few 1e-5 of KD in SW1 on the teacher's noises (KDM guide).
    "model.sigma_z": "0",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default="runs/example04")
    parser.add_argument("--paper", action="store_true", help="the paper's configuration")
    parser.add_argument("--steps", type=int, default=None, help="override the step budget")
    parser.add_argument("--seed", type=int, default=0, help="training seed of both students")
    parser.add_argument("--n-pairs", type=int, default=200_000)
    parser.add_argument("--n-eval", type=int, default=50_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-kd", action="store_true", help="train KDM only")
    parser.add_argument(
        "--teacher-run", default=None, help="use this teacher run (e.g. runs/quickstart/teacher)"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from koopkit.io import recorded_command, write_json
    from koopkit_diffusion.data import checkerboard
    from koopkit_diffusion.edm import heun_sample
    from koopkit_diffusion.evaluation import analyze_model, same_noise_scores
    from koopkit_diffusion.evaluation.metrics import sliced_wasserstein
    from koopkit_diffusion.evaluation.outliers import outlier_analysis
    from koopkit_diffusion.evaluation.plots import plot_samples
    from koopkit_diffusion.pairs import PairDataset
    from koopkit_diffusion.runs import generate_pair_set, get_preset, load_teacher, train_run
    from koopkit_diffusion.runs.quickstart import CHECKERBOARD_SCALE

    work = Path(args.workdir)
    t0 = time.perf_counter()
    teacher_run = args.teacher_run
    if teacher_run is None:
        teacher_run = work / "teacher"
        train_run("teacher-checkerboard", teacher_run, resume="auto")
    teacher = load_teacher(teacher_run)
    common = dict(batch_size=25_000, compute_dtype="float64")
    generate_pair_set(teacher_run, work / "pairs", args.n_pairs, seed=1, **common)
    generate_pair_set(teacher_run, work / "eval-pairs", args.n_eval, seed=2, **common)
    print(f"teacher and pairs ready in {time.perf_counter() - t0:.0f} s (cached in {work})")

    overrides = {} if args.paper else dict(BEST)
    if args.steps:
        overrides["train.steps"] = str(args.steps)
    overrides["train.checkpoint_every"] = "100000"
    overrides["train.seed"] = str(args.seed)
    preset = get_preset("checkerboard" if args.paper else "checkerboard-fast", overrides)
    tag = "paper" if args.paper else "best"
    name = f"{tag}-seed{args.seed}"  # outputs per configuration and seed: none overwrites another
    weights = "raw" if args.paper else "ema"  # what the authors evaluate, what we do
    held = PairDataset(work / "eval-pairs")[:]
    true = checkerboard(args.n_eval, seed=100)
    floor = sliced_wasserstein(true, checkerboard(args.n_eval, seed=101))
    results = {"command": recorded_command(), "config": tag}
    results |= {"floor_sw": floor, "steps": preset.train.steps, "weights": weights}
    samples = {"teacher": held["sample"]}
    # fresh noise: independent of the held-out teacher samples, as the floor assumes
    noise = torch.randn(args.n_eval, 2, generator=torch.Generator().manual_seed(7))
    t0 = time.perf_counter()
    with torch.no_grad():
        heun_sample(teacher, noise, 18, sigma_min=teacher.sigma_min, sigma_max=teacher.sigma_max)
    results["teacher"] = {"nfe": 35, "sample_s": time.perf_counter() - t0}
    models = {}
    for kind in ("kdm",) if args.skip_kd else ("kdm", "kd"):
        run = work / f"{kind}-{tag}-seed{args.seed}"
        t0 = time.perf_counter()
        res = train_run(preset, run, pairs=work / "pairs", kind=kind, resume="auto")
        minutes = (time.perf_counter() - t0) / 60
        ema = res.ema.module if hasattr(res.ema, "module") else res.ema
        model = models[kind] = (ema if weights == "ema" else res.model).eval()
        t0 = time.perf_counter()
        x = torch.cat([model.sample(noise=c) for c in noise.split(25_000)])
        samples[kind] = x
        results[kind] = {
            "nfe": 1,
            "sample_s": time.perf_counter() - t0,
            "sw_vs_teacher": sliced_wasserstein(x, held["sample"]),
            "sw_vs_true": sliced_wasserstein(x, true),
            **same_noise_scores(model, held),
            "train_minutes": minutes,
        }
    results["teacher"]["sw_vs_true"] = sliced_wasserstein(held["sample"], true)
    board = CHECKERBOARD_SCALE  # data units → the board's own [-2, 2]² units
    print(f"{'model':8s} {'NFE':>4s} {'sample s':>9s} {'SW1 vs teacher':>15s} "
          f"{'SW1 vs true':>12s} {'SW1 same noise':>15s} {'RMSE same noise':>16s}"
          "   (board units: SW1 vs teacher, vs true)")  # fmt: skip
    for label, r in results.items():
        if isinstance(r, dict):
            cells = [
                f"{r[k]:.4f}" if k in r else "-"
                for k in ("sw_vs_teacher", "sw_same_noise", "rmse_same_noise")
            ]
            sw_tb = f"{board * r['sw_vs_teacher']:.4f}" if "sw_vs_teacher" in r else "-"
            print(f"{label.upper():8s} {r['nfe']:>4d} {r['sample_s']:>9.2f} {cells[0]:>15s} "
                  f"{r['sw_vs_true']:>12.4f} {cells[1]:>15s} {cells[2]:>16s}"
                  f"   ({sw_tb}, {board * r['sw_vs_true']:.4f})")  # fmt: skip
    print(f"floor (two independent {args.n_eval} true sets): {floor:.4f} "
          f"(board units {board * floor:.4f}); 'same noise': against the teacher's samples of"
          " the same noises (no floor)")  # fmt: skip
    results["board_scale"] = board
    n_out = min(10_000, args.n_eval)
    results["outliers"] = {
        kind: outlier_analysis(
            model, held["noise"][:n_out], held["sample"][:n_out], work / f"analysis-{name}" / kind
        )
        for kind, model in models.items()
    }
    for kind, r in results["outliers"].items():
        print(f"outliers (DBSCAN eps 0.15 or |z| > 3) among {n_out} samples: {kind.upper()} "
              f"{r['model']['fraction']:.2%}, teacher {r['teacher']['fraction']:.2%} on the same "
              f"noises; both {r['both_fraction']:.2%}; mean |ε| of the student's outliers "
              f"{r['model_outlier_noise_radius'] or float('nan'):.2f} vs "
              f"{r['inlier_noise_radius']:.2f} for its inliers")  # fmt: skip
    results["analysis"] = analyze_model(models["kdm"], teacher, work / f"analysis-{name}", n=2000)
    prox = results["analysis"]["latent_semantic"]
    same_cell = results["analysis"]["noise_partition_agreement"]
    print(f"analyses in {work}/analysis-{name}: k-NN cell agreement "
          f"{prox['knn_agreement_latent']:.3f} in the KDM latent vs "
          f"{prox['knn_agreement_noise']:.3f} in raw noise; teacher and KDM send "
          f"{same_cell:.1%} of noises to the same cell")  # fmt: skip
    write_json(results, work / f"results-{name}.json")
    for model_name, x in samples.items():
        plot_samples(x, work / f"{model_name}-{name}.png", title=f"{model_name} ({name})")
    print(f"wrote {work}/results-{name}.json and sample figures")


if __name__ == "__main__":
    main()
