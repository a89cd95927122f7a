"""Which scores a generator gets, by the data its samples come from (behind ``evaluate``).

The data's name decides, never the shape of a sample:

=====================  ======================================================================
2-D toys               SW1 and marginal W1 against the teacher's samples and the true
                       distribution, with the floor of two independent true sets
``digits``             classifier-FID, coverage and precision/recall against the training split
``cifar10``, folders   with Inception weights: Inception Score, precision/recall against the
                       data's images (or the teacher's samples), and FID with reference
                       statistics
unknown (imported)     scores against the teacher's samples only
=====================  ======================================================================

:func:`score_generator` applies the table to a one-step generator and its teacher on the same
noises; :func:`analysis_semantics` picks the semantic space of the latent analyses the same way;
:func:`load_images` and :func:`image_source` read the image files the image scores take.
Run directories are opened by :mod:`koopkit_diffusion.runs`, which hands the models here.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from koopkit_diffusion import data as datasets
from koopkit_diffusion.data import IMAGE_DATA, TOY_2D, DataConfig, image_dataset, toy_2d

from .classifier import load_digits_classifier
from .image_scores import image_scores, inception_semantics
from .inception import load_inception
from .metrics import sliced_wasserstein
from .scores import evaluate_2d, evaluate_digits, sample_pair

__all__ = ["analysis_semantics", "image_source", "load_images", "score_generator"]

logger = logging.getLogger(__name__)


def score_generator(
    model: Any,
    teacher: Any | None,
    data: dict[str, Any] | None,
    *,
    n: int | None = None,
    seed: int = 0,
    n_steps: int = 18,
    cache_dir: str | os.PathLike | None = None,
    ref_stats: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Score a one-step generator and, beside it, its teacher, on the same seeded noises.

    Parameters
    ----------
    model : KDM-like
        A one-step generator (``sample_batches``, ``shape``, ``label_dim``).
    teacher : Teacher or None
        Scored beside the model (and used as the model's reference) when given.
    data : dict or None
        What the samples are (a :class:`~koopkit_diffusion.data.DataConfig` as a dict); picks the
        scores by its ``name`` (see the module docstring).
    n : int, optional
        Number of samples (default 50000 for vectors, 2000 for images).
    seed : int, default 0
    n_steps : int, default 18
        Steps of the teacher's sampler.
    cache_dir : path-like, optional
        Digits classifier cache.
    ref_stats, inception_weights : path-like, optional
        Images: with the Inception weights, the Inception Score and precision/recall (against
        up to ``n`` images of the data when its files are there, else the teacher's samples);
        with the reference statistics too, FID.
    device : str, default "cpu"

    Returns
    -------
    dict
        ``{"model": {...}, "teacher": {...}, "data", "n"}`` (and the floor for 2-D toys); each
        entry holds the NFE and sampling seconds beside the scores.
    """
    name = (data or {}).get("name")
    flat = len(model.shape) == 1
    n = n or (50_000 if flat else 2000)
    pair = sample_pair(model, teacher, n, seed=seed, n_steps=n_steps)
    outputs = {"model": (pair["samples"], pair["seconds"], pair["nfe"])}
    if teacher is not None:
        outputs["teacher"] = (pair["teacher_samples"], pair["teacher_seconds"], pair["teacher_nfe"])
    report: dict[str, Any] = {"data": name, "n": n}
    true = real = inception = None
    data_read = False
    if name in TOY_2D:
        # The floor: SW1 between two independent true sets of this size. One pair varies by
        # ~20 % from draw to draw, so report the mean and spread over four pairs.
        true = toy_2d(name, n, seed=seed + 1)
        sets = [true] + [toy_2d(name, n, seed=seed + 2 + i) for i in range(7)]
        floors = [sliced_wasserstein(sets[2 * i], sets[2 * i + 1]) for i in range(4)]
        report["sw_floor"], report["sw_floor_std"] = float(np.mean(floors)), float(np.std(floors))
    if name == "digits":
        classifier = load_digits_classifier(cache_dir=cache_dir)
        reference = datasets.digits("train")[0]
        report["classifier_test_accuracy"] = classifier.test_accuracy
    for who, (samples, seconds, nfe) in outputs.items():
        entry: dict[str, Any] = {"nfe": nfe, "sampling_seconds": seconds}
        refs = {} if true is None else {"true": true}
        if who == "model" and "teacher" in outputs:
            refs["teacher"] = outputs["teacher"][0]
        if name == "digits":
            entry.update(evaluate_digits(samples, classifier, reference))
        elif flat and refs:
            entry.update(evaluate_2d(samples, refs))
        elif not flat and inception_weights:
            inception = inception or load_inception(inception_weights, device=device)
            if not data_read:  # the data's images are read once, for every entry
                real, data_read = data_images(data, n, seed), True
            reference, source = (real, "data") if real is not None else (None, None)
            if reference is None and who == "model" and "teacher" in outputs:
                reference, source = outputs["teacher"][0], "teacher samples"
            entry.update(image_scores(samples, inception, ref_stats=ref_stats,
                                      reference=reference, seed=seed, device=device))  # fmt: skip
            if source:
                entry["precision_recall_reference"] = source
        report[who] = entry
    return report


def data_images(data: dict[str, Any] | None, n: int, seed: int) -> torch.Tensor | None:
    """Up to ``n`` uint8 images of image data (a seeded subset), if its files are there.

    Returns
    -------
    Tensor of shape (m, C, H, W), uint8, or None
        ``None`` for data that are not images or whose files are missing (with a warning).
    """
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


def analysis_semantics(
    data: dict[str, Any] | None,
    shape: tuple[int, ...],
    *,
    cache_dir: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
) -> tuple[Any, Any]:
    """The semantic space of the latent analyses for this data: ``(classifier, semantics)``.

    Digits: the digits classifier. Natural images with Inception weights: Inception pool3
    features and classes. Otherwise neither (the outputs themselves are the semantics).

    Returns
    -------
    classifier : DigitsClassifier or None
    semantics : callable or None
        See :func:`~koopkit_diffusion.evaluation.analyze.analyze_model`.
    """
    if (data or {}).get("name") == "digits":
        return load_digits_classifier(cache_dir=cache_dir), None
    if inception_weights is not None and len(shape) == 3:
        return None, inception_semantics(inception_weights)
    return None, None


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


def image_source(
    path: str | os.PathLike, resolution: int | None = None, split: str = "train"
) -> Any:
    """The uint8 images of a dataset given by path, for reference statistics.

    Parameters
    ----------
    path : path-like
        A CIFAR-10 archive or folder, a folder of images (with ``resolution``) or an
        ``.npz``/``.npy`` array of images.
    resolution : int, optional
        Side of the images of a folder.
    split : {"train", "test"}, default "train"
        CIFAR-10's split.

    Returns
    -------
    Tensor or ndarray of shape (n, C, H, W)
    """
    source = Path(path)
    if source.suffix in (".npz", ".npy"):
        return load_images(source)
    if (
        source.name.endswith(".tar.gz")
        or (source / "cifar-10-batches-py").exists()
        or (source / "data_batch_1").exists()
    ):
        return datasets.cifar10(source, split=split, uint8=True)[0]
    if source.is_dir():
        if resolution is None:
            raise ValueError("a folder of images needs a resolution")
        return datasets.image_folder(source, resolution, uint8=True)[0]
    raise FileNotFoundError(
        f"{source}: expected a CIFAR-10 archive/folder, an image folder or .npz/.npy"
    )
