"""The latent-space analyses of a KDM, run together and written as figures and JSON."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from koopkit.io import write_json
from koopkit_diffusion.edm import noise_batches

from . import latent, plots
from .classifier import classifier_features
from .representability import flow_representability
from .scores import sample_pair

__all__ = ["analyze_model"]


def analyze_model(
    model: Any,
    teacher: Any | None,
    out_dir: str | os.PathLike,
    classifier: Any = None,
    semantics: Callable[[torch.Tensor], tuple[Any, Any]] | None = None,
    n: int = 1000,
    n_flow: int = 512,
    k: int = 10,
    n_clusters: int = 8,
    seed: int = 0,
) -> dict[str, Any]:
    """Run the latent-space analyses on a KDM and write figures and ``analysis.json``.

    Writes into ``out_dir``: ``latent_embedding.png``, ``operator_spectrum.png``,
    ``representability.png`` (with a teacher), ``noise_partition.png`` (2-D data with a teacher)
    and ``analysis.json``.

    Parameters
    ----------
    model : KDM-like
    teacher : Teacher or None
        Needed for the representability analysis and the noise partition.
    out_dir : path-like
    classifier : DigitsClassifier, optional
        For digits: semantic features and classes of the outputs. Without it or ``semantics``
        the outputs' coordinates are the semantics and their k-means cells the classes.
    semantics : callable, optional
        ``semantics(samples) -> (features, classes)`` for other images, e.g.
        :func:`~koopkit_diffusion.evaluation.image_scores.inception_semantics` (Inception pool3
        features and Inception classes) for CIFAR-10; its ``space`` attribute, if any, names the
        space in the report (``semantic_space``).
    n : int, default 1000
        Noises of the latent–semantic analysis.
    n_flow : int, default 512
        Noises of the representability analysis (teacher trajectories).
    k : int, default 10
        Neighbours of the k-NN label agreement.
    n_clusters : int, default 8
        k-means cells for flat data.
    seed : int, default 0

    Returns
    -------
    dict
        What ``analysis.json`` holds.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shape = tuple(model.shape)
    label_dim = max(int(model.label_dim), int(getattr(teacher, "label_dim", 0) or 0))
    # One draw of the package's seeded noises (and classes): the first n for the latent analyses,
    # the next n_flow for the teacher's trajectories.
    (noise_all, labels_all), *_ = noise_batches(
        n + n_flow, shape, seed=seed, batch_size=n + n_flow, label_dim=label_dim
    )
    noise, flow_noise = noise_all[:n], noise_all[n:]
    labels = None if labels_all is None else labels_all[:n]
    latents, samples = latent.kdm_latents(model, noise, labels)
    if classifier is not None:
        semantic = classifier_features(classifier, samples)
        with torch.no_grad():
            classes = classifier(samples.float()).argmax(1).numpy()
    elif semantics is not None:
        semantic, classes = semantics(samples.float())
    else:
        semantic = samples.reshape(n, -1)
        (classes,) = latent.cluster_labels(semantic, n_clusters=n_clusters, seed=seed)
    proximity = latent.latent_semantic_proximity(
        latents, noise, semantic, classes, k=k, groups=labels
    )
    space = "classifier" if classifier is not None else "output"
    if semantics is not None and classifier is None:
        space = getattr(semantics, "space", "custom")
    report: dict[str, Any] = {
        "conditional": bool(model.label_dim),
        "semantic_space": space,
        "latent_semantic": proximity.to_dict(),
    }
    figures = {
        "latent_embedding.png": plots.plot_latent_embedding(latents, noise, classes),
        "operator_spectrum.png": plots.plot_operator_spectrum(
            model.operator.eigenvalues().detach().cpu().numpy()
        ),
    }
    if teacher is not None:
        flow_labels = None if labels_all is None else labels_all[n:]
        rep = flow_representability(
            model,
            teacher,
            flow_noise,
            labels=flow_labels if model.label_dim else None,
            teacher_labels=flow_labels if teacher.label_dim else None,
        )
        report["representability"] = rep.to_dict()
        figures["representability.png"] = plots.plot_representability(rep)
        if shape == (2,):
            pair = sample_pair(model, teacher, n, seed=seed)
            part = latent.noise_partition(
                pair["noise"], pair["teacher_samples"], pair["samples"], n_clusters, seed
            )
            report["noise_partition_agreement"] = part["agreement"]
            figures["noise_partition.png"] = plots.plot_noise_partition(pair["noise"], part)
    for name, fig in figures.items():
        plots.save_figure(fig, out / name)
    report["figures"] = sorted(figures)
    write_json(report, out / "analysis.json")
    return report
