"""Evaluate, analyse and sample run directories (``evaluate``, ``analyze``, ``sample``, ``fid``).

A run's record (``run.json``) says what it is: the model kind, its configuration, the data the
samples come from and the teacher run. Evaluation reads it once, loads the checkpoint once and
picks its scores from the data's name, never from the shape of a sample:

=====================  ======================================================================
2-D toys               SW1 and marginal W1 against the teacher's samples and the true
                       distribution, with the floor of two independent true sets
``digits``             classifier-FID, coverage and precision/recall against the training split
``cifar10``, folders   with Inception weights: Inception Score, precision/recall against the
                       data's images (or the teacher's samples), and FID with reference
                       statistics
unknown (imported)     scores against the teacher's samples only
=====================  ======================================================================

Everything is written inside the run directory, except the digits classifier, which is shared
between runs through its cache folder.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from koopkit.io import write_json

from .record import RunRecord
from .training import LoadedRun, load_generator, load_teacher

logger = logging.getLogger(__name__)

__all__ = [
    "analyze_run",
    "dataset_fid_stats",
    "evaluate_run",
    "load_images",
    "run_fid",
    "sample_run",
]


def _data_name(run: LoadedRun) -> str | None:
    return (run.record.data or {}).get("name")


def _teacher_of(run: LoadedRun, teacher: str | os.PathLike | None, device: Any):
    where = teacher or run.record.teacher_run
    return None if where is None else load_teacher(where, device=device)


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
    heun_steps: int | None = None,
) -> dict[str, Any]:
    """Score a student run's generator and, beside it, its teacher.

    Parameters
    ----------
    run_dir : path-like
        A KDM or KD run.
    n : int, optional
        Number of samples (default 50000 for 2-D data, 2000 for images).
    seed : int, default 0
    with_teacher : bool, default True
        Also sample and score the teacher (the record's teacher run, or ``teacher``).
    teacher : path-like, optional
        Teacher run directory, overriding the record's.
    cache_dir : path-like, optional
        Digits classifier cache (see
        :func:`~koopkit_diffusion.evaluation.classifier.load_digits_classifier`).
    ref_stats, inception_weights : path-like, optional
        Image runs: with the Inception weights, the Inception Score and precision/recall
        (against up to ``n`` images of the record's data when its files are there, else against
        the teacher's samples); with the reference statistics too, FID.
    device : str, default "cpu"
    heun_steps : int, optional
        Heun steps N of the teacher's sampler (``2N − 1`` evaluations). Default: the steps of the
        sampler that made the run's pair set (its manifest), so the teacher is scored as the
        student saw it; 18 (EDM's) when the record names no readable pair set.

    Returns
    -------
    dict
        ``{"model": {...}, "teacher": {...}, "kind", "data", "step", "n"}``; each entry holds the
        NFE and sampling seconds beside the scores. Also written to ``run_dir/evaluation.json``.
    """
    from koopkit_diffusion.data import TOY_2D, toy_2d
    from koopkit_diffusion.evaluation import evaluate_2d, evaluate_digits, sample_pair
    from koopkit_diffusion.evaluation.metrics import sliced_wasserstein

    run = load_generator(run_dir, device=device)
    data = _data_name(run)
    flat = len(run.model.shape) == 1
    n = n or (50_000 if flat else 2000)
    denoiser = _teacher_of(run, teacher, device) if with_teacher else None
    if heun_steps is None:
        heun_steps = _pair_set_steps(run.record.pairs) or 18
    elif not (isinstance(heun_steps, int) and heun_steps >= 2):
        raise ValueError(f"heun_steps must be an integer >= 2, got {heun_steps!r}")
    pair = sample_pair(run.model, denoiser, n, seed=seed, n_steps=heun_steps)
    outputs = {"model": (pair["samples"], pair["seconds"], pair["nfe"])}
    if denoiser is not None:
        outputs["teacher"] = (pair["teacher_samples"], pair["teacher_seconds"], pair["teacher_nfe"])
    report: dict[str, Any] = {"kind": run.record.kind, "data": data, "step": run.step, "n": n}
    true = real = inception = None
    data_read = False
    if data in TOY_2D:
        # The floor: SW1 between two independent true sets of this size. One pair varies by
        # ~20 % from draw to draw, so report the mean and spread over four pairs.
        true = toy_2d(data, n, seed=seed + 1)
        sets = [true] + [toy_2d(data, n, seed=seed + 2 + i) for i in range(7)]
        floors = [sliced_wasserstein(sets[2 * i], sets[2 * i + 1]) for i in range(4)]
        report["sw_floor"], report["sw_floor_std"] = float(np.mean(floors)), float(np.std(floors))
    if data == "digits":
        from koopkit_diffusion.data import digits
        from koopkit_diffusion.evaluation.classifier import load_digits_classifier

        classifier = load_digits_classifier(cache_dir=cache_dir)
        reference = digits("train")[0]
        report["classifier_test_accuracy"] = classifier.test_accuracy
    for who, (samples, seconds, nfe) in outputs.items():
        entry: dict[str, Any] = {"nfe": nfe, "sampling_seconds": seconds}
        refs = {} if true is None else {"true": true}
        if who == "model" and "teacher" in outputs:
            refs["teacher"] = outputs["teacher"][0]
        if data == "digits":
            entry.update(evaluate_digits(samples, classifier, reference))
        elif flat and refs:
            entry.update(evaluate_2d(samples, refs))
        elif not flat and inception_weights:
            from koopkit_diffusion.evaluation.image_scores import image_scores
            from koopkit_diffusion.evaluation.inception import load_inception

            inception = inception or load_inception(inception_weights, device=device)
            if not data_read:  # the data's images are read once, for every entry
                real, data_read = _data_images(run.record.data, n, seed), True
            reference, source = (real, "data") if real is not None else (None, None)
            if reference is None and who == "model" and "teacher" in outputs:
                reference, source = outputs["teacher"][0], "teacher samples"
            entry.update(image_scores(samples, inception, ref_stats=ref_stats,
                                      reference=reference, seed=seed, device=device))  # fmt: skip
            if source:
                entry["precision_recall_reference"] = source
        report[who] = entry
    write_json(report, Path(run_dir) / "evaluation.json")
    return report


def _pair_set_steps(pairs: str | None) -> int | None:
    """Heun steps of the sampler that made a pair set, from its manifest (None if unknown)."""
    if not pairs:
        return None
    from koopkit_diffusion.pairs.format import read_manifest

    try:
        steps = read_manifest(pairs)["sampler"]["n_steps"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return steps if isinstance(steps, int) and steps >= 2 else None


def _data_images(data: dict[str, Any] | None, n: int, seed: int) -> torch.Tensor | None:
    """Up to ``n`` uint8 images of a run's image data (a seeded subset), if its files are there."""
    from koopkit_diffusion.data import IMAGE_DATA, DataConfig, image_dataset

    if not data or data.get("name") not in IMAGE_DATA or not data.get("root"):
        return None
    try:
        images = image_dataset(DataConfig.from_dict(data)).images
    except (FileNotFoundError, ValueError) as err:
        logger.warning("precision/recall against the teacher's samples: %s", err)
        return None
    if images.shape[0] > n:
        idx = np.sort(np.random.default_rng(seed).choice(images.shape[0], n, replace=False))
        images = images[torch.from_numpy(idx)]
    return images


def analyze_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    teacher: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`~koopkit_diffusion.evaluation.analyze.analyze_model` on a KDM run.

    Parameters
    ----------
    run_dir : path-like
    out_dir : path-like, optional
        Default ``run_dir/analysis``.
    teacher : path-like, optional
        Teacher run directory (overrides the record's); without any, the representability and
        noise-partition analyses are skipped.
    cache_dir : path-like, optional
        Digits classifier cache.
    inception_weights : path-like, optional
        Natural images (CIFAR-10, image folders): the latent–semantic analysis measures semantics
        with Inception pool3 features and Inception classes
        (:func:`~koopkit_diffusion.evaluation.image_scores.inception_semantics`) instead of pixels.
    **kwargs
        ``n``, ``n_flow``, ``k``, ``n_clusters``, ``seed`` of
        :func:`~koopkit_diffusion.evaluation.analyze.analyze_model`.

    Returns
    -------
    dict
        The content of ``analysis.json``.
    """
    from koopkit_diffusion.evaluation import analyze_model

    run = load_generator(run_dir)
    if run.record.kind != "kdm":
        raise ValueError(f"the latent analyses need a KDM run, got a {run.record.kind!r} run")
    classifier = semantics = None
    if _data_name(run) == "digits":
        from koopkit_diffusion.evaluation.classifier import load_digits_classifier

        classifier = load_digits_classifier(cache_dir=cache_dir)
    elif inception_weights is not None and len(run.model.shape) == 3:
        from koopkit_diffusion.evaluation.image_scores import inception_semantics

        semantics = inception_semantics(inception_weights)
    out = Path(out_dir) if out_dir is not None else Path(run_dir) / "analysis"
    return analyze_model(
        run.model, _teacher_of(run, teacher, "cpu"), out, classifier=classifier,
        semantics=semantics, **kwargs,
    )  # fmt: skip


def sample_run(
    run_dir: str | os.PathLike,
    n: int,
    out: str | os.PathLike,
    *,
    seed: int = 0,
    label: int | None = None,
    batch_size: int = 10_000,
    n_steps: int = 18,
    ema: bool = True,
    device: str = "cpu",
) -> dict[str, Any]:
    """Draw ``n`` samples from a run (teacher: Heun sampler; student: one step) into an ``.npz``.

    Writes ``out`` (``samples`` and, for conditional models, ``labels``) and a PNG beside it.

    Parameters
    ----------
    run_dir : path-like
        A teacher, KDM or KD run.
    n : int
    out : path-like
        Output ``.npz``.
    seed : int, default 0
    label : int, optional
        One class for every sample of a conditional model (default: balanced / random classes).
    batch_size : int, default 10000
    n_steps : int, default 18
        Teacher only: Heun steps (``2·n_steps − 1`` evaluations).
    ema : bool, default True
        Teacher only: the averaged weights.
    device : str, default "cpu"

    Returns
    -------
    dict
        ``{"samples": path, "figure": path, "n", "nfe"}``.
    """
    from koopkit_diffusion.evaluation.plots import plot_samples

    out = Path(out)
    if out.suffix != ".npz":
        raise ValueError(f"the output must end in .npz, got {out}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    kind = RunRecord.read(run_dir).kind
    if kind == "teacher":
        from koopkit_diffusion.teacher import sample_teacher

        model = load_teacher(run_dir, ema=ema, device=device)
        labels = _fixed_labels(model.label_dim, label, n)
        samples, labels = sample_teacher(
            model, n, n_steps=n_steps, seed=seed, labels=labels, batch_size=batch_size,
            progress=True,
        )  # fmt: skip
        nfe = 2 * n_steps - 1
    else:
        model = load_generator(run_dir, device=device).model
        samples, labels = _one_step_samples(model, n, seed, label, batch_size, device)
        nfe = 1
    arrays = {"samples": samples.float().numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **arrays)
    title = f"{kind}, {nfe} NFE"
    png = plot_samples(samples, out.with_suffix(".png"), labels=labels, title=title)
    return {"samples": str(out), "figure": str(png), "n": n, "nfe": nfe}


def _fixed_labels(label_dim: int, label: int | None, n: int) -> torch.Tensor | None:
    if label is None:
        return None
    if not label_dim:
        raise ValueError("label was given for an unconditional model")
    if not 0 <= label < label_dim:
        raise ValueError(f"label must lie in [0, {label_dim}), got {label}")
    return torch.full((n,), label, dtype=torch.long)


def _one_step_samples(model, n, seed, label, batch_size, device):
    gen = torch.Generator(device=device).manual_seed(seed)
    fixed = _fixed_labels(model.label_dim, label, n)
    chunks, label_chunks = [], []
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        labels = None
        if model.label_dim:
            if fixed is not None:
                labels = fixed[start : start + m].to(device)
            else:
                labels = torch.randint(model.label_dim, (m,), generator=gen, device=device)
            label_chunks.append(labels.cpu())
        chunks.append(model.sample(m, labels=labels, generator=gen).cpu())
    return torch.cat(chunks), (torch.cat(label_chunks) if label_chunks else None)


def load_images(path: str | os.PathLike) -> np.ndarray:
    """Images saved as ``.npy`` or ``.npz`` (key ``samples``, ``images`` or ``arr_0``).

    Returns
    -------
    ndarray of shape (n, C, H, W)
        Memory-mapped for ``.npy``.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"samples file not found: {p}")
    if p.suffix == ".npy":
        return np.load(p, mmap_mode="r", allow_pickle=False)
    if p.suffix == ".npz":
        with np.load(p, allow_pickle=False) as data:
            for key in ("samples", "images", "arr_0"):
                if key in data.files:
                    return data[key]
            raise ValueError(f"{p} holds {data.files}; expected a 'samples' or 'images' array")
    raise ValueError(f"expected an .npz or .npy file of images, got {p}")


def _generated_batches(model: Any, n: int, seed: int, batch_size: int) -> Iterator[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, n, batch_size):
        yield model.sample(min(batch_size, n - start), generator=gen).cpu()


def run_fid(
    ref_stats: str | os.PathLike,
    inception_weights: str | os.PathLike,
    *,
    samples: str | os.PathLike | None = None,
    run_dir: str | os.PathLike | None = None,
    n: int = 50_000,
    seed: int = 0,
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception FID of a samples file or of ``n`` one-step samples drawn from a student run.

    Returns
    -------
    dict
        See :func:`~koopkit_diffusion.evaluation.scores.evaluate_fid`.
    """
    from koopkit_diffusion.evaluation import evaluate_fid

    if (samples is None) == (run_dir is None):
        raise ValueError("give exactly one of samples (a file) and run_dir (a student run)")
    if samples is not None:
        images: Any = load_images(samples)
    else:
        model = load_generator(run_dir, device=device).model
        images = _generated_batches(model, n, seed, batch_size)
    return evaluate_fid(images, ref_stats, inception_weights, batch_size=batch_size, device=device)


def dataset_fid_stats(
    data: str | os.PathLike,
    out: str | os.PathLike,
    inception_weights: str | os.PathLike,
    *,
    resolution: int | None = None,
    split: str = "train",
    batch_size: int = 64,
    device: str = "cpu",
) -> dict[str, Any]:
    """Inception reference statistics (``mu``, ``sigma``) of a dataset, saved as ``.npz``.

    Parameters
    ----------
    data : path-like
        A CIFAR-10 archive or folder, a folder of images (with ``resolution``) or an
        ``.npz``/``.npy`` array of images.
    out : path-like
        Output ``.npz``.
    inception_weights : path-like
        ``pt_inception-2015-12-05-*.pth``.

    Returns
    -------
    dict
        ``{"out", "count"}``.
    """
    from koopkit_diffusion import data as datasets
    from koopkit_diffusion.evaluation.inception import inception_stats, load_inception

    source = Path(data)
    if source.suffix in (".npz", ".npy"):
        images = load_images(source)
    elif (
        source.name.endswith(".tar.gz")
        or (source / "cifar-10-batches-py").exists()
        or (source / "data_batch_1").exists()
    ):
        images = datasets.cifar10(source, split=split, uint8=True)[0]
    elif source.is_dir():
        if resolution is None:
            raise ValueError("a folder of images needs a resolution")
        images = datasets.image_folder(source, resolution, uint8=True)[0]
    else:
        raise FileNotFoundError(
            f"{source}: expected a CIFAR-10 archive/folder, an image folder or .npz/.npy"
        )
    model = load_inception(inception_weights, device=device)
    stats = inception_stats(model, images, batch_size=batch_size)
    stats.save(out)
    return {"out": str(out), "count": stats.count}
