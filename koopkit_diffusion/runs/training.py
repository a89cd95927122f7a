"""Train any preset into a run directory, and load runs back.

One entry, :func:`train_run`, for teachers and students: a teacher preset trains an EDM teacher
on its data, a student preset trains a KDM (or the KD baseline) on a pair set. Both go through
:class:`koopkit_diffusion.trainer.loop.Trainer` (EMA, bf16, DDP under ``torchrun``, exact
resume) and leave the same run directory: the record ``run.json``, the trainer's ``config.json``,
``metrics.jsonl``, ``checkpoints/`` and sample figures.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from koopkit_diffusion.data import IMAGE_DATA, image_dataset, training_set
from koopkit_diffusion.edm import concat_batches
from koopkit_diffusion.evaluation.plots import plot_samples
from koopkit_diffusion.pairs import PairDataset
from koopkit_diffusion.students import KDM, STUDENTS, KDBaseline, KDMConfig
from koopkit_diffusion.students.lpips import LPIPS_LINEAR_FILE, LPIPS_TRUNK_FILE
from koopkit_diffusion.teacher import Teacher, TeacherConfig, build_teacher
from koopkit_diffusion.trainer import TensorDictDataset, Trainer, load_run

from .best_checkpoint import FIDTracker
from .presets import Preset, apply_overrides, get_preset
from .record import (
    MODEL_KINDS,
    STUDENT_KINDS,
    RunRecord,
    claim_directory,
    config_defaults,
    find_record,
    manifest_sha256,
    record_differences,
)

__all__ = [
    "build_model",
    "load_generator",
    "load_teacher",
    "train_run",
]

logger = logging.getLogger(__name__)

#: The student run's record of the pair-set files it has verified (size, mtime, sha256).
PAIRS_CACHE = "verified-pairs.json"


def build_model(
    config: TeacherConfig | KDMConfig, kind: str, seed: int | None = None
) -> Teacher | KDM | KDBaseline:
    """A freshly initialised teacher, KDM or KD baseline.

    Parameters
    ----------
    config : TeacherConfig or KDMConfig
    kind : {"teacher", "kdm", "kd"}
    seed : int, optional
        Draw the initial weights from a generator seeded with it, leaving the global torch
        generator as it was; without, they come from the global generator's state.

    Returns
    -------
    Teacher, KDM or KDBaseline
    """
    if kind not in MODEL_KINDS:
        raise ValueError(f"model kind must be one of {MODEL_KINDS}, got {kind!r}")
    if (kind == "teacher") != isinstance(config, TeacherConfig):
        raise ValueError(
            f"a {kind} model needs a {'Teacher' if kind == 'teacher' else 'KDM'}Config"
        )
    if seed is not None:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_model(config, kind)
    if kind == "teacher":
        return build_teacher(config)
    return STUDENTS[kind](config)


def _fit_to_pairs(config: KDMConfig, dataset: Any) -> KDMConfig:
    """Check a student config against its pairs; take σmax and σ_data from them (data facts)."""
    first = None if hasattr(dataset, "shape") else dataset[0]
    shape = tuple(dataset.shape) if first is None else tuple(first["sample"].shape)
    if shape != tuple(config.shape):
        raise ValueError(
            f"pair set samples have shape {shape} but the model expects {config.shape}; "
            "pick the preset that matches the pairs or set model.shape"
        )
    label_dim = getattr(dataset, "label_dim", None)
    if label_dim is None:  # a plain dataset: labels present or not
        label_dim = config.label_dim if "label" in (first or dataset[0]) else 0
    if config.label_dim and label_dim != config.label_dim:
        raise ValueError(
            f"conditional model (label_dim={config.label_dim}) needs pairs with {config.label_dim} "
            f"classes; the pair set has label_dim={label_dim}"
        )
    changes = {}
    for name in ("sigma_max", "sigma_data"):
        value = getattr(dataset, name, None)
        if value is not None and float(value) != getattr(config, name):
            logger.info("using the pair set's %s=%g (config said %g)", name, value,
                        getattr(config, name))  # fmt: skip
            changes[name] = float(value)
    return dataclasses.replace(config, **changes) if changes else config


def sample_figures(n: int = 2000, seed: int = 0):
    """A sample callback of the trainer: ``run_dir/samples/step-<step>.png`` of the EMA model.

    ``n`` points for vectors, 100 images for images, from the model's ``sample_batches`` (a
    teacher's own sampler or a student's one step) on the same seeded noises at every step.
    """

    def on_sample(model: nn.Module, step: int, run_dir: Path) -> None:
        count = n if len(model.shape) == 1 else 100
        x, labels = concat_batches(model.sample_batches(count, seed=seed))
        who = "teacher, " if isinstance(model, Teacher) else ""
        (Path(run_dir) / "samples").mkdir(parents=True, exist_ok=True)
        plot_samples(
            x, Path(run_dir) / "samples" / f"step-{step:08d}.png",
            labels=labels, title=f"{who}step {step}",
        )  # fmt: skip

    return on_sample


def _is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def train_run(
    preset: Preset | str,
    out: str | os.PathLike,
    *,
    pairs: str | os.PathLike | Any = None,
    kind: str | None = None,
    overrides: Mapping[str, str] | None = None,
    resume: bool | str = False,
    n_sample_points: int = 2000,
    verify_pairs: bool = True,
    fid_every: int | None = None,
    fid_ref: str | os.PathLike | None = None,
    inception_weights: str | os.PathLike | None = None,
    fid_n: int = 10_000,
):
    """Train a preset into the run directory ``out``: a teacher on its data, a student on pairs.

    Parameters
    ----------
    preset : Preset or str
        A preset or its name (see :func:`~koopkit_diffusion.runs.presets.get_preset`).
    out : path
        Run directory. A directory holding a run of another kind, or a pair set, is refused.
    pairs : path or dataset, optional
        Students only: a pair-set directory (opened as
        :class:`~koopkit_diffusion.pairs.dataset.PairDataset`) or any dataset of
        ``{"noise", "sample"[, "label"]}`` dicts; its ``shape``, ``sigma_max``, ``sigma_data`` and
        ``label_dim`` are used when present.
    kind : {"kdm", "kd"}, optional
        Students only: KDM (default) or the KD baseline.
    overrides : mapping of str to str, optional
        Preset overrides (``{"model.latent_dim": "128"}``).
    resume : bool or "auto", default False
        Continue from the latest checkpoint (``"auto"``: when there is one). A resumed run must
        have the same kind, pair set and model/loss configuration; the differences are listed.
    n_sample_points : int, default 2000
        Points drawn for the 2-D sample figures (every ``train.sample_every`` steps).
    verify_pairs : bool, default True
        Before the first step, check every shard of a pair-set directory (sha256 and values)
        that this run has not verified yet; verified files are remembered by size and
        modification time in ``out/verified-pairs.json``, so a resumed run reads nothing again.
        ``False`` skips it (the manifest's consistency and the file sizes are still checked).
    fid_every : int, optional
        Image models: measure FID every this many training images and keep the best EMA weights
        in ``out/best.pt`` (:class:`~koopkit_diffusion.runs.best_checkpoint.FIDTracker`; records
        in ``out/fid.jsonl``, the best in ``out/best.json``). ``train.sample_every`` is lowered to
        the matching number of steps if it is larger.
    fid_ref, inception_weights : path-like, optional
        Reference statistics and Inception weights; required with ``fid_every``.
    fid_n : int, default 10000
        Samples per measurement.

    Returns
    -------
    koopkit_diffusion.trainer.TrainResult

    Notes
    -----
    The initial weights are drawn from ``preset.train.seed`` (the trainer then seeds the training
    randomness from it too), so two calls with the same preset and data train the same model
    whatever ran before them in the process.
    """

    overrides = dict(overrides or {})
    if isinstance(preset, str):
        preset = get_preset(preset, overrides)
    elif overrides:
        preset = apply_overrides(preset, overrides)
    out = Path(out)
    tracker, figures = None, bool(preset.train.sample_every)
    if fid_every is not None:
        if fid_ref is None or inception_weights is None:
            raise ValueError("fid_every needs fid_ref (reference statistics) and inception_weights")
        tracker = FIDTracker(
            fid_ref, inception_weights, fid_every, preset.train.batch_size, preset.train.steps,
            n=fid_n,
        )  # fmt: skip
        if not preset.train.sample_every or preset.train.sample_every > tracker.sample_every:
            train = dataclasses.replace(preset.train, sample_every=tracker.sample_every)
            preset = dataclasses.replace(preset, train=train)
    if preset.kind == "teacher":
        if pairs is not None or kind not in (None, "teacher"):
            raise ValueError(f"{preset.name!r} is a teacher preset: it takes no pairs or kind")
        kind = "teacher"
        if preset.data.name in IMAGE_DATA:  # uint8 in memory, converted (and augmented) per batch
            dataset = image_dataset(preset.data)
        else:
            dataset = TensorDictDataset(**training_set(preset.data))
        config = preset.model
        record = RunRecord(
            "teacher", preset.name, overrides,
            {k: c.to_dict() for k, c in preset.sections().items()}, data=preset.data.to_dict(),
        )  # fmt: skip
    else:
        kind = kind or "kdm"
        if kind not in STUDENT_KINDS:
            raise ValueError(f"a student is one of {STUDENT_KINDS}, got {kind!r}")
        if pairs is None:
            raise ValueError(f"{preset.name!r} is a student preset: it trains on pairs (--pairs)")
        record = _student_record(preset, kind, overrides, pairs)
        if isinstance(pairs, (str, os.PathLike)):
            dataset = PairDataset(
                pairs, verify="lazy" if verify_pairs else False, checksum_cache=out / PAIRS_CACHE
            )
        else:
            dataset = pairs
        config = _fit_to_pairs(preset.model, dataset)
        record.config["model"] = config.to_dict()
    existing = claim_directory(out, kind)
    if existing is not None and resume:
        differences = record_differences(existing, record, config_defaults(preset.sections()))
        if differences:
            raise ValueError(
                f"cannot resume {out}: the run was made with another configuration or data:\n  "
                + "\n  ".join(differences)
            )
    model = build_model(config, kind, seed=preset.train.seed)
    on_sample = sample_figures(n_sample_points) if figures else None
    if tracker is not None:
        if len(config.shape) != 3:
            raise ValueError(f"FID is measured on images; {preset.name!r} has shape {config.shape}")
        tracker.inner, on_sample = on_sample, tracker
    # The trainer checks ``resume`` against the checkpoints before anything is written.
    with Trainer(model, dataset, preset.train, out, on_sample=on_sample, resume=resume) as trainer:
        if _is_main_process():
            record.write(out)
        if callable(getattr(dataset, "verify_shards", None)):
            # Before the DataLoader's workers copy the dataset: they inherit the verified shards.
            dataset.verify_shards(progress=preset.train.progress and _is_main_process())
        return trainer.train()


def _student_record(preset: Preset, kind: str, overrides: dict[str, str], pairs: Any) -> RunRecord:
    sections = {k: c.to_dict() for k, c in preset.sections().items()}
    if not isinstance(pairs, (str, os.PathLike)):
        return RunRecord(kind, preset.name, overrides, sections, pairs=type(pairs).__name__)
    source = find_record(pairs)
    return RunRecord(
        kind,
        preset.name,
        overrides,
        sections,
        data=source.data if source else None,
        teacher_run=source.teacher_run if source else None,
        pairs=str(pairs),
        pairs_manifest_sha256=manifest_sha256(pairs),
    )


def _read(run_dir: str | os.PathLike, kinds: tuple[str, ...]) -> RunRecord:
    record = RunRecord.read(run_dir)
    if record.kind not in kinds:
        raise ValueError(f"{run_dir} is a {record.kind} run; expected one of {kinds}")
    return record


def load_teacher(
    run_dir: str | os.PathLike,
    ema: bool = True,
    device: str | torch.device = "cpu",
    checkpoint: str | os.PathLike = "latest",
) -> Teacher:
    """Load a teacher run in eval mode, gradients off.

    Parameters
    ----------
    run_dir : path
        A teacher run (``teacher train`` or ``teacher import``).
    ema : bool, default True
        The averaged weights (else the raw last weights).
    device : str or torch.device, default "cpu"
    checkpoint : "latest" or path, default "latest"

    Returns
    -------
    Teacher
        With ``shape``, ``label_dim``, ``sigma_data``, ``sigma_min`` and ``sigma_max``.
    """

    record = _read(run_dir, ("teacher",))
    teacher = build_teacher(TeacherConfig.from_dict(record.config["model"]))
    state = load_run(run_dir, teacher, checkpoint=checkpoint, map_location=device)
    if not ema:
        teacher.load_state_dict(state.model_state)
    return teacher.to(device).eval().requires_grad_(False)


@dataclasses.dataclass
class LoadedRun:
    """A generator restored from a student run (EMA weights, eval mode).

    Attributes
    ----------
    model : KDM or KDBaseline
    record : RunRecord
    step : int
        Training step of the checkpoint.
    """

    model: KDM | KDBaseline
    record: RunRecord
    step: int


def load_generator(
    run_dir: str | os.PathLike,
    device: str | torch.device = "cpu",
    checkpoint: str | os.PathLike = "latest",
) -> LoadedRun:
    """Rebuild a student run's one-step generator from its record and load its EMA weights.

    The checkpoint is read once. A run trained with the LPIPS loss loads without the LPIPS
    weight files (sampling never evaluates the loss).

    Parameters
    ----------
    run_dir : path
        A KDM or KD run.
    device : str or torch.device, default "cpu"
    checkpoint : "latest" or path, default "latest"

    Returns
    -------
    LoadedRun
    """

    record = _read(run_dir, STUDENT_KINDS)
    config = KDMConfig.from_dict(record.config["model"])
    weights = config.lpips_weights
    if "lpips" in config.loss and not (
        weights
        and all((Path(weights) / f).is_file() for f in (LPIPS_TRUNK_FILE, LPIPS_LINEAR_FILE))
    ):
        logger.info("LPIPS weights not found; loading %s for inference with loss='mse'", run_dir)
        config = dataclasses.replace(config, loss="mse", lpips_weights=None)
    model = build_model(config, record.kind)
    state = load_run(run_dir, model, checkpoint=checkpoint, map_location=device)
    return LoadedRun(model=model.to(device).eval(), record=record, step=state.step)
