"""Evaluate and analyse a distilled digits model: teacher vs KDM vs KD, then KDM's two claims
==========================================================================================


Takes the run directories of a digits teacher (``koopkit-diffusion teacher train``), a KDM and
optionally the KD baseline (``koopkit-diffusion train --preset digits [--model kd]``), and

1. scores teacher (35 NFE), KDM and KD (1 NFE) on the same noises: classifier-FID against the
   training split, class coverage, k-NN precision/recall, sampling time;
2. runs the latent–semantic analysis (k-NN label agreement and Spearman correlation in the KDM
   latent vs raw noise) and the representability analysis of the teacher's flow;
3. writes ``digits_evaluation.json``, ``samples.png`` and the analysis figures into ``--out``
   (default: ``KDM_RUN/digits_analysis``) and prints a table.

Usage::

    python examples/07_digits_analysis.py --teacher runs/digits-teacher \\
        --kdm runs/digits-kdm --kd runs/digits-kd

Results
-------
The figures this example wrote for the evaluation guide (:doc:`/guide/10-evaluation`, where the
numbers are): samples from the same noises, the KDM latent against raw noise coloured by the
class of the generated digit, and the representability of the teacher's flow.

.. image:: /guide/figures/10-digits-samples.png
   :alt: digits drawn by the teacher, KDM and KD from the same noises

.. image:: /guide/figures/10-digits-latent-embedding.png
   :alt: PCA of noises and KDM latents coloured by the class of the generated digit

.. image:: /guide/figures/10-digits-representability.png
   :alt: residual against latent dimension, and semigroup error
"""

# sphinx_gallery_thumbnail_path = "guide/figures/10-digits-latent-embedding.png"

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from koopkit.io import write_json  # noqa: E402
from koopkit_diffusion.data import digits  # noqa: E402
from koopkit_diffusion.evaluation import analyze_model, compare_digits, sample_pair  # noqa: E402
from koopkit_diffusion.evaluation.classifier import load_digits_classifier  # noqa: E402
from koopkit_diffusion.evaluation.plots import save_figure  # noqa: E402
from koopkit_diffusion.runs import load_generator, load_teacher  # noqa: E402

TITLE = "Evaluate and analyse a distilled digits model: teacher vs KDM vs KD, then KDM's two claims"


def sample_grid(models: dict, teacher, path: Path, n: int = 10) -> None:
    """Rows: teacher, then each model, all from the same ``n`` noises."""
    rows = {}
    for i, (name, model) in enumerate(models.items()):
        pair = sample_pair(model, teacher if i == 0 else None, n, seed=123)
        if i == 0:
            rows["teacher (35 NFE)"] = pair["teacher_samples"]
        rows[f"{name} (1 NFE)"] = pair["samples"]
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 0.8, len(rows) * 0.9))
    for r, (name, images) in enumerate(rows.items()):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(images[c, 0].clamp(-1, 1).numpy(), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    save_figure(fig, path)


def table(results: dict) -> str:
    lines = [f"{'':10s} {'NFE':>4s} {'cFID':>8s} {'prec':>6s} {'recall':>6s} {'classes':>7s}"]
    for name, r in results.items():
        lines.append(
            f"{name:10s} {r['nfe']:4d} {r['classifier_fid']:8.3f} {r['precision']:6.3f} "
            f"{r['recall']:6.3f} {r['coverage']['n_covered']:7d}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=TITLE)
    parser.add_argument("--teacher", required=True, help="digits teacher run directory")
    parser.add_argument("--kdm", required=True, help="KDM run directory")
    parser.add_argument("--kd", default=None, help="KD baseline run directory")
    parser.add_argument("--n", type=int, default=2000, help="samples per generator")
    parser.add_argument("--n-analysis", type=int, default=1000, help="noises of the analyses")
    parser.add_argument("--cache-dir", default=None, help="digits classifier cache")
    parser.add_argument("--out", default=None, help="default: KDM_RUN/digits_analysis")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    out = Path(args.out) if args.out else Path(args.kdm) / "digits_analysis"
    out.mkdir(parents=True, exist_ok=True)
    teacher = load_teacher(args.teacher)
    models = {"KDM": load_generator(args.kdm).model}
    if args.kd:
        models["KD"] = load_generator(args.kd).model
    classifier = load_digits_classifier(cache_dir=args.cache_dir)
    reference = digits("train")[0]

    results = compare_digits(models, teacher, classifier, reference, n=args.n, seed=args.seed)
    analysis = analyze_model(
        models["KDM"], teacher, out, classifier=classifier, n=args.n_analysis, seed=args.seed
    )
    sample_grid(models, teacher, out / "samples.png")
    report = {
        "classifier_test_accuracy": classifier.test_accuracy,
        "n": args.n,
        "scores": results,
        "analysis": analysis,
    }
    write_json(report, out / "digits_evaluation.json")

    print(table(results))
    prox = analysis["latent_semantic"]
    print(
        f"k-NN label agreement (k={prox['k']}): KDM latent {prox['knn_agreement_latent']:.3f}, "
        f"raw noise {prox['knn_agreement_noise']:.3f}, chance {prox['knn_agreement_chance']:.3f}"
    )
    print(
        f"Spearman(distance, semantic distance): KDM latent {prox['spearman_latent']:.3f}, "
        f"raw noise {prox['spearman_noise']:.3f}"
    )
    rep = analysis["representability"]
    print(
        "residual T->0 at full latent dim: latent "
        f"{rep['residual_latent'][0][-1]:.3f}, raw state {rep['residual_state'][0][-1]:.3f}"
    )
    print(json.dumps({"out": str(out)}))
    return report


if __name__ == "__main__":
    main()
