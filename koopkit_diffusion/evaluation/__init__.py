"""The evaluation wing: metrics, feature extractors, scores beside the teacher, latent analyses.

* :mod:`~koopkit_diffusion.evaluation.metrics` — SW1, marginal W1, Fréchet distance, feature
  statistics; :mod:`~koopkit_diffusion.evaluation.precision_recall` — k-NN precision/recall;
* :mod:`~koopkit_diffusion.evaluation.inception` — Inception-v3 FID from local weights;
  :mod:`~koopkit_diffusion.evaluation.image_scores` — FID, Inception Score and precision/recall
  of images in one pass;
  :mod:`~koopkit_diffusion.evaluation.classifier` — the digits classifier and classifier-FID;
* :mod:`~koopkit_diffusion.evaluation.scores` — :func:`sample_pair`, :func:`evaluate_2d`,
  :func:`same_noise_scores`, :func:`evaluate_digits`, :func:`compare_digits`,
  :func:`evaluate_fid`;
* :mod:`~koopkit_diffusion.evaluation.latent` and
  :mod:`~koopkit_diffusion.evaluation.representability` — the checks of KDM's two claims;
  :func:`analyze_model` runs them; :mod:`~koopkit_diffusion.evaluation.plots` draws them;
* :mod:`~koopkit_diffusion.evaluation.outliers` — the KDM authors' outlier analysis of 2-D
  samples (DBSCAN and z-scores) and the noises the outliers come from;
* :mod:`~koopkit_diffusion.evaluation.policy` — which scores a generator gets for its data
  (:func:`score_generator`), and the semantic space of its latent analyses.

Run directories are opened by :mod:`koopkit_diffusion.runs`, not here.
"""

from .analyze import analyze_model
from .policy import score_generator
from .scores import (
    compare_digits,
    evaluate_2d,
    evaluate_digits,
    evaluate_fid,
    same_noise_scores,
    sample_pair,
)

__all__ = [
    "analyze_model",
    "compare_digits",
    "evaluate_2d",
    "evaluate_digits",
    "evaluate_fid",
    "same_noise_scores",
    "sample_pair",
    "score_generator",
]
