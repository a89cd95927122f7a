"""Evaluate and analyse a training run directory (behind ``koopkit-diffusion evaluate | analyze``).

A run directory is the one :func:`koopkit_diffusion.kdm_run.train_model` (``koopkit-diffusion
train``) writes; the model is rebuilt by :func:`koopkit_diffusion.kdm_run.load_model` from
``config.json["metadata"]`` (``model_config``, ``model_kind``). Two more metadata entries are
read when present:

===========  ================================================================================
``teacher``  teacher run directory (``teacher_run`` also read); the ``teacher=`` argument
             (``--teacher``) overrides it, and without either the teacher's scores are skipped
``data``     dataset name (else the ``preset`` name): ``"digits"``, a 2-D toy name, …; what the
             evaluation does is inferred from the data shape
===========  ================================================================================

Everything is written inside the run directory (DESIGN §4), except the digits classifier,
which is shared between runs through its cache folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from koopkit_diffusion.evaluation import analyze_model, evaluate_2d, evaluate_digits, sample_pair

__all__ = ["LoadedRun", "analyze_run", "evaluate_run", "load_generator"]


@dataclass
class LoadedRun:
    """A generator restored from a run directory (EMA weights, eval mode).

    Attributes
    ----------
    model : torch.nn.Module
        KDM or KD baseline.
    kind : str
        ``"kdm"`` or ``"kd"``.
    data : str
        ``"2d"``, ``"digits"`` or ``"images"`` (what the evaluation does), or the dataset name.
    dataset : str or None
        The metadata's dataset name.
    teacher_dir : pathlib.Path or None
    step : int
    """

    model: torch.nn.Module
    kind: str
    data: str
    dataset: str | None
    teacher_dir: Path | None
    step: int


def _first(meta: dict[str, Any], *keys: str) -> Any:
    return next((meta[k] for k in keys if meta.get(k) is not None), None)


def _data_kind(meta: dict[str, Any], shape: tuple[int, ...]) -> str:
    if _first(meta, "data", "dataset", "preset") == "digits" or shape == (1, 8, 8):
        return "digits"
    if len(shape) == 1:
        return "2d"
    return "images"


def load_generator(
    run_dir: str | os.PathLike,
    teacher: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
) -> LoadedRun:
    """Rebuild the one-step generator of a run from its metadata and load its EMA weights.

    Parameters
    ----------
    run_dir : path-like
    teacher : path-like, optional
        Teacher run directory, overriding the metadata's.
    device : str or torch.device, default "cpu"

    Returns
    -------
    LoadedRun

    Raises
    ------
    FileNotFoundError
        If the run has no ``config.json`` or checkpoint.
    ValueError
        If the metadata has no model configuration (``model_config``).
    """
    from koopkit_diffusion.kdm_run import load_model
    from koopkit_diffusion.trainer import load_run

    state = load_run(run_dir)
    meta = state.metadata
    model = load_model(run_dir)
    kind = str(meta.get("model_kind", "kdm")).lower()
    teacher_dir = teacher or _first(meta, "teacher", "teacher_run")
    return LoadedRun(
        model=model.to(device).eval(),
        kind=kind,
        data=_data_kind(meta, tuple(model.data_shape)),
        dataset=_first(meta, "data", "dataset", "preset"),
        teacher_dir=Path(teacher_dir) if teacher_dir else None,
        step=state.step,
    )


def _teacher(run: LoadedRun, device: Any):
    if run.teacher_dir is None:
        return None
    from koopkit_diffusion.teacher import load_teacher

    return load_teacher(run.teacher_dir, device=device)


def evaluate_run(
    run_dir: str | os.PathLike,
    n: int | None = None,
    seed: int = 0,
    with_teacher: bool = True,
    teacher: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    ref_stats: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score a run's generator and, beside it, its teacher (DESIGN §3, "Evaluation").

    2-D data: SW1 and marginal W1 against the teacher's samples and the true distribution, with
    the floor of two independent true sets. Digits: classifier-FID, coverage and precision/
    recall against the training split. Images: Inception FID when ``ref_stats`` and
    ``inception_weights`` are given. Always: NFE and sampling seconds.

    Parameters
    ----------
    run_dir : path-like
    n : int, optional
        Number of samples (default 50000 for 2-D data, 2000 for images).
    seed : int, default 0
    with_teacher : bool, default True
        Also sample and score the teacher (needs its run directory).
    teacher : path-like, optional
        Teacher run directory (overrides the run metadata).
    cache_dir : path-like, optional
        Digits classifier cache (see :func:`~koopkit_diffusion.classifier.load_digits_classifier`).
    ref_stats, inception_weights : path-like, optional
        For Inception FID of image runs.
    device : str, default "cpu"

    Returns
    -------
    dict
        ``{"model": {...}, "teacher": {...}, "kind", "data", "step", "n"}``.
    """
    run = load_generator(run_dir, teacher=teacher, device=device)
    n = n or (50_000 if run.data == "2d" else 2000)
    denoiser = _teacher(run, device) if with_teacher else None
    pair = sample_pair(run.model, denoiser, n, seed=seed)
    outputs = {"model": (pair["samples"], pair["seconds"], pair["nfe"])}
    if denoiser is not None:
        outputs["teacher"] = (pair["teacher_samples"], pair["teacher_seconds"], pair["teacher_nfe"])
    report: dict[str, Any] = {"kind": run.kind, "data": run.data, "step": run.step, "n": n}
    if run.data == "2d":
        from koopkit_diffusion.data import TOY_2D, toy_2d

        name = run.dataset or "checkerboard"
        if name not in TOY_2D:
            raise ValueError(f"unknown 2-D dataset {name!r}; expected one of {sorted(TOY_2D)}")
        true, true2 = toy_2d(name, n, seed=seed + 1), toy_2d(name, n, seed=seed + 2)
        report["sw_floor"] = evaluate_2d(true, {"true": true2})["sw_true"]
    if run.data == "digits":
        from koopkit_diffusion.classifier import load_digits_classifier
        from koopkit_diffusion.data import digits

        classifier = load_digits_classifier(cache_dir=cache_dir)
        reference = digits("train")[0]
        report["classifier_test_accuracy"] = classifier.test_accuracy
    for who, (samples, seconds, nfe) in outputs.items():
        entry: dict[str, Any] = {"nfe": nfe, "sampling_seconds": seconds}
        if run.data == "2d":
            refs = {"true": true}
            if who == "model" and "teacher" in outputs:
                refs["teacher"] = outputs["teacher"][0]
            entry.update(evaluate_2d(samples, refs))
        elif run.data == "digits":
            entry.update(evaluate_digits(samples, classifier, reference))
        elif ref_stats and inception_weights:
            from koopkit_diffusion.evaluation import evaluate_fid

            entry.update(evaluate_fid(samples, ref_stats, inception_weights, device=device))
        report[who] = entry
    return report


def analyze_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    teacher: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`~koopkit_diffusion.evaluation.analyze_model` on a run's KDM.

    Parameters
    ----------
    run_dir : path-like
    out_dir : path-like, optional
        Default ``run_dir/analysis``.
    teacher : path-like, optional
        Teacher run directory (overrides the metadata); without any, the representability and
        noise-partition analyses are skipped.
    cache_dir : path-like, optional
        Digits classifier cache.
    **kwargs
        ``n``, ``n_flow``, ``k``, ``n_clusters``, ``seed`` of :func:`analyze_model`.

    Returns
    -------
    dict
        The content of ``analysis.json``.
    """
    run = load_generator(run_dir, teacher=teacher)
    if run.kind != "kdm":
        raise ValueError(f"the latent analyses need a KDM run, got a {run.kind!r} run")
    classifier = None
    if run.data == "digits":
        from koopkit_diffusion.classifier import load_digits_classifier

        classifier = load_digits_classifier(cache_dir=cache_dir)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "analysis"
    return analyze_model(run.model, _teacher(run, "cpu"), out, classifier=classifier, **kwargs)
